// Package cli implements the k3sync command line.
//
// # Contract
//
// The commands, flags, output formats and exit codes are a contract used by
// CI pipelines and other tools; change them only compatibly:
//
//	k3sync validate --repo DIR [--output text|json]   exit 0 valid, 1 invalid
//	k3sync render   --repo DIR [--tenant T] [--output yaml|json]
//	k3sync plan     --config FILE --repo DIR [--tenant T] [--output text|markdown|json]
//	                exit 0 no changes, 2 changes, 1 error
//	k3sync apply    --config FILE --repo DIR [--tenant T] [--dry-run]
//	k3sync sync     --server URL [--tenant T]  (token: --token-file or K3SYNC_TOKEN)
//	k3sync schema                                      print the CUE schema
//	k3sync version
//
// # Environment
//
// Every flag can also be set as K3SYNC_<FLAG>, upper case with '-' as '_'
// (K3SYNC_REPO, K3SYNC_OUTPUT). A flag on the command line wins.
package cli
