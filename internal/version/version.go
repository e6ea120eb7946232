// Package version reports the k3sync version, set at build time with
// -ldflags "-X github.com/k3sync/k3sync/internal/version.Version=v1.2.3".
package version

import "runtime/debug"

// Version is the release version; builds without ldflags use the module
// version from the build info, or "devel".
var Version = ""

// Commit is the VCS revision, when known.
var Commit = ""

// String returns "VERSION (COMMIT)".
func String() string {
	v, c := Version, Commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if c == "" && s.Key == "vcs.revision" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if c != "" {
		return v + " (" + c + ")"
	}
	return v
}
