package dashboard

import (
	"testing"

	"github.com/k3sync/k3sync/internal/loader"
)

// TestMain serves as the tenant evaluation sandbox's child when the tests
// start this binary as one (loader.Sandbox).
func TestMain(m *testing.M) { loader.RunTests(m) }
