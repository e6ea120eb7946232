// Package schema holds the CUE definitions of a k3sync platform repo:
// #Platform for platform.cue and #Tenant for tenants/<name>/*.cue.
// The files are embedded in the binary; `k3sync schema` prints them so
// that users can run `cue vet` against their repo with the same rules.
package schema

import "embed"

// Files holds the *.cue schema files.
//
//go:embed *.cue
var Files embed.FS
