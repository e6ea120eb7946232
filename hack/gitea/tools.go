//go:build tools

// Package tools pins the Gitea server built by gitea.mk as a dependency of
// this module, so that go.mod and go.sum record exactly what gets built. It
// is never compiled: gitea.mk runs `go build` on the main package below.
package tools

import (
	_ "code.gitea.io/gitea"
)
