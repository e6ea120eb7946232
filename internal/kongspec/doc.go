// Package kongspec knows what a real Kong Gateway (3.9, open-source)
// accepts: its schema vocabulary (fields, types, defaults, constraints,
// after kong/db/schema), its scalar validators (names, hosts, paths, tags,
// targets) and the schemas of the bundled plugins k3sync supports.
//
// # Why it exists
//
// It is the twin of kafkaspec. The Kong Admin API emulator (kongemu) serves
// and enforces these schemas, and k3sync's loader checks tenants' plugin
// configs and entity names against the same definitions at validate time,
// before any request, so a configuration the emulator would refuse never
// reaches a plan, and one source of truth keeps the two in step.
//
// # Plugins
//
// Bundled returns the plugin catalog: each plugin's fields merged onto the
// generic plugin entity (PluginSchema.Fields), its entity checks, whether
// it runs code from its configuration (pre-function, post-function) and
// the config fields naming a host the gateway connects to.
// Catalog.ValidateConfig reports every problem of one config with its
// path below config.
package kongspec
