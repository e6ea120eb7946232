// Package kongemu is an in-process emulator of the Kong Gateway Admin API,
// faithful enough for go-database-reconciler (v1.26) and Debian's decK
// 1.4.0 to run against it unmodified. k3sync uses it where no real Kong can
// run: tests, benchmarks and local dry runs.
//
// Typical use:
//
//	emu := kongemu.New(kongemu.Options{})
//	srv := httptest.NewServer(emu) // or: base, err := emu.Start(ctx)
//	client, _ := kong.NewClient(kong.String(srv.URL), srv.Client())
//	...
//	if emu.Writes() != 0 { /* a no-op plan wrote something */ }
//
// # What is emulated
//
// The Admin API of an open-source Kong 3.9 node in DB mode (reported as
// database "postgres", role "traditional", router_flavor
// "traditional_compatible"), default workspace only:
//
//   - GET / (version, edition, node_id, configuration,
//     plugins.available_on_server/enabled_in_cluster), /status, /endpoints,
//     /plugins/enabled, /tags and /tags/{tag}.
//   - GET /schemas/{dao}, GET /schemas/plugins/{name}, POST
//     /schemas/{dao}/validate and /schemas/plugins/validate, in Kong's field
//     format ({"fields":[{"name":{"type":...,"default":...}}]}).
//   - CRUD on services, routes, consumers, plugins, upstreams, targets,
//     certificates, snis, ca_certificates, consumer_groups (with
//     /consumer_groups/{g}/consumers membership), vaults, key-sets, keys,
//     and the credentials key-auth, basic-auth, acls, jwt, hmac-auth, oauth2
//     and mtls-auth: top-level collections (/key-auths, /basic-auths, /acls,
//     /jwts, /hmac-auths, /oauth2, /mtls-auths), nested collections for
//     every foreign key (/services/{s}/routes, /routes/{r}/plugins,
//     /consumers/{c}/key-auth, /upstreams/{u}/targets, /certificates/{c}/snis,
//     ...), nested rows (/consumers/{c}/key-auth/{id-or-key}), foreign
//     parents (/routes/{r}/service) and /upstreams/{u}/targets/all.
//   - Rows are addressed by id or by the entity's endpoint key (name,
//     username, key, group, target, instance_name, ...). POST creates
//     (generated UUID, created_at/updated_at); PUT is a full replacement and
//     an upsert by id or endpoint key; PATCH merges (records recursively,
//     arrays replaced); DELETE answers 204, also for a top-level row that
//     does not exist (nested URLs answer 404 for a missing child).
//   - Lists are ordered by primary key like Kong's Postgres strategy and
//     paged with size (default 100, at most 1000) and an opaque offset
//     (base64 of the last id); the envelope is {"data":[...],"next":...,
//     "offset":...} with next null on the last page. ?tags=a,b matches
//     entities carrying all tags, ?tags=a/b any of them (at most 5, no
//     mixing).
//   - Options.AdminToken makes every request require the Kong-Admin-Token
//     header (401 otherwise).
//   - Every request is counted per "METHOD route" using Kong's route names
//     (Stats, Reads, Writes, ResetStats), so tests can assert that a no-op
//     plan only reads.
//
// # Schemas, defaults and validation
//
// Each entity and bundled plugin has one schema definition (entities_*.go
// here; the schema vocabulary and the plugins in internal/kongspec),
// transcribed from Kong 3.9's kong/db/schema/entities/*.lua and kong/plugins/*/schema.lua. The same
// definition is served by /schemas, fills defaults on writes and validates
// them, which is what keeps decK-style diffs clean: go-kong's
// FillEntityDefaults/FillPluginsDefaults applied to the served schema give
// exactly what a POST stores (schema_test.go checks this).
//
// Writes follow process_auto_fields in insert context: missing fields get
// their default or null, records are filled when present or required, and
// records are required unless declared otherwise (as in Kong's
// Schema.new), sets are de-duplicated, then fields are validated (type,
// one_of, between, gt, len_min, starts_with, uuid, hosts, paths, header
// names, tags, unknown fields) and entity checks run (route matching
// fields, service protocol conditionals, upstream hashing, rate-limiting
// periods, acl allow/deny, ...). Responses contain every field, null when
// unset, like the Admin API (which serializes with nulls).
//
// Bundled plugins (internal/kongspec, shared with k3sync's loader): acl,
// basic-auth, correlation-id, cors, hmac-auth, ip-restriction, jwt,
// key-auth, post-function, pre-function, prometheus, rate-limiting,
// request-size-limiting, request-transformer and response-transformer.
// Any other plugin name is rejected like a plugin absent from the
// "plugins" configuration property.
//
// # Errors
//
// Bodies use Kong's shapes and status codes:
//
//   - 400 schema violation: {"code":2,"name":"schema violation","message":
//     "schema violation (host: required field missing)","fields":{...}}.
//   - 409 unique violation: {"code":5,"name":"unique constraint violation",
//     "message":"UNIQUE violation detected on '{name=\"x\"}'","fields":{...}}
//     for unique fields and for composite cache keys (a plugin on the same
//     name/route/service/consumer, an acl group per consumer, a target per
//     upstream).
//   - 400 foreign key violation (code 4): a foreign key naming a missing row,
//     and DELETE of a row still referenced by an on_delete "restrict" child
//     ("an existing 'routes' entity references this 'services' entity").
//   - 400 primary key violation (code 3) for a POST reusing an id, invalid
//     size (code 9), invalid offset (code 7), invalid options (code 11).
//   - 404 {"message":"Not found"}; 405 {"message":"Method not allowed"}.
//
// # Relations and cascades
//
// on_delete follows the schemas: deleting a consumer removes its plugins,
// credentials and group memberships; an upstream its targets; a route or
// service its plugins; a certificate its SNIs (Kong's certificates DAO
// does this). A service with routes cannot be deleted (restrict), nor a
// certificate still used as client_certificate, nor a CA certificate used
// by an mtls-auth credential.
//
// # Facts measured on real Kong
//
// These behaviours were measured on real Kong 3.x (they come with the
// project's brief) and are reproduced here:
//
//   - Targets are stored as host:port, port 8000 when none is given.
//   - basic-auth passwords are stored as hex(SHA1(password .. consumer_id))
//     and never returned in clear (hashing happens only when the request
//     carries a password, as Kong's transformations do).
//   - Workspaces are Enterprise-only: /workspaces answers 404.
//   - A service "url" is split into protocol, host, port and path on write
//     (port defaults from the scheme); url itself is not stored.
//
// Inferred from client code rather than measured: IPv6 targets are stored
// expanded and bracketed ("[0000:...:0001]:8000", which
// go-database-reconciler's normalizeIPv6 mirrors), and PUT on a target that
// does not exist answers 404 (go-kong's TargetService.Create then falls
// back to POST).
//
// # Observed with Debian decK 1.4.0
//
// decK 1.4.0 (go-kong 0.15) reads GET / and lists every collection with
// ?size=1000 (/key-auths, /basic-auths, /acls, /jwts, /hmac-auths, /oauth2,
// /mtls-auths, /upstreams/{id}/targets, ...), creates and updates with PUT
// /{entity}/{id} and PUT /consumers/{c}/{credential}/{id}, creates targets
// with POST and deletes them with DELETE. It has no --analytics flag (that
// came with decK 1.5; DECK_ANALYTICS=off is harmless) and fills only a few
// static defaults: it never reads /schemas. Against Kong 3.x -- real or
// emulated -- every field Kong defaults that a state file omits (retries,
// path_handling, https_redirect_status_code, plugin config defaults,
// protocols, enabled, ...) shows up as an update in deck diff, so files
// meant for decK 1.4.0 must be written in the complete form deck dump
// produces (testdata/kong.yaml). go-database-reconciler 1.26 reads the
// schemas and needs no such care (testdata/reconciler.yaml is minimal).
//
// # What is not emulated
//
//   - The proxy: nothing routes traffic, health checkers do not run
//     (/upstreams/{u}/health reports HEALTHCHECKS_OFF), DNS is not resolved.
//   - Enterprise features: workspaces, RBAC, licenses, partials, consumer
//     group plugins and policy overrides, dynamic plugin ordering, Kong
//     Manager and Dev Portal endpoints. mtls-auth and consumer groups are
//     served although open-source Kong 3.9 answers 404 for them, because
//     decK manages them.
//   - DB-less mode (/config), /cache, /timers, /debug, /clustering, wasm
//     filter chains (/filter-chains answers 400 as with wasm disabled).
//   - Request bodies other than JSON, application/x-www-form-urlencoded and
//     multipart/form-data (form.go: field names as paths, "paths[]=/a",
//     "config.minute=5", values typed by the schema like Kong's
//     arguments.infer); the emulator answers 415.
//   - Plugins other than the bundled list, custom plugins and custom DAOs;
//     deprecated shorthand fields (e.g. rate-limiting redis_host) are
//     rejected as unknown fields instead of being translated.
//   - Vault references ({vault://...}) are stored verbatim, never resolved;
//     oauth2 hash_secret does not hash; ttl on key-auth is stored, never
//     expires.
//   - Regex paths are not compiled; certificate/key pairs are checked with
//     Go's crypto/tls, not OpenSSL, so error texts differ.
//   - Exact error message texts of rarely hit validators, and the full
//     entity_checks list in served schemas (not served).
//
// # Faults
//
// Server.Inject makes the emulator fail as a gateway (or the load balancer
// in front of it) does, for the next N requests of a method and path
// prefix: a status code with Kong's error body and Retry-After, a stall,
// or a dropped connection (fault.go). ClearFaults ends them. A faulted
// request never reaches the data, and is not counted by Count or Writes.
package kongemu
