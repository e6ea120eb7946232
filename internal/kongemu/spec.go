package kongemu

import "github.com/k3sync/k3sync/internal/kongspec"

// The schema vocabulary lives in kongspec, "what a real Kong accepts",
// which k3sync's loader also checks tenants against. The emulator keeps
// the short names of Kong's Lua schema library for its entity tables.

type (
	field       = kongspec.Field
	fieldErrors = kongspec.FieldErrors
)

var (
	fString  = kongspec.StringField
	fInt     = kongspec.IntField
	fNumber  = kongspec.NumberField
	fBool    = kongspec.BoolField
	fRecord  = kongspec.RecordField
	fArray   = kongspec.ArrayField
	fSet     = kongspec.SetField
	fMap     = kongspec.MapField
	fForeign = kongspec.ForeignField
	elem     = kongspec.Elem

	tdID         = kongspec.TdID
	tdCreatedAt  = kongspec.TdCreatedAt
	tdUpdatedAt  = kongspec.TdUpdatedAt
	tdTags       = kongspec.TdTags
	tdName       = kongspec.TdName
	tdHeaderName = kongspec.TdHeaderName
	tdHost       = kongspec.TdHost
	tdSNI        = kongspec.TdSNI
	tdPort       = kongspec.TdPort
	tdPath       = kongspec.TdPath

	checkName       = kongspec.CheckName
	checkSNI        = kongspec.CheckSNI
	checkCIDR       = kongspec.CheckCIDR
	checkHTTPMethod = kongspec.CheckHTTPMethod
	checkRouterPath = kongspec.CheckRouterPath
	checkRouteHost  = kongspec.CheckRouteHost
	splitHostPort   = kongspec.SplitHostPort
	validHostname   = kongspec.ValidHostname
	normalizeTarget = kongspec.NormalizeTarget
	nonEmpty        = kongspec.NonEmpty

	lookupField      = kongspec.LookupField
	schemaDoc        = kongspec.SchemaDoc
	cloneObject      = kongspec.CloneObject
	coerceRecord     = kongspec.CoerceRecord
	fillRecord       = kongspec.FillRecord
	mergeValues      = kongspec.MergeValues
	validateRecord   = kongspec.ValidateRecord
	flattenErrors    = kongspec.FlattenErrors
	dedupe           = kongspec.Dedupe
	isUUID           = kongspec.IsUUID
	pluginBaseFields = kongspec.PluginBaseFields

	allProtocols = kongspec.AllProtocols
)
