package gitea

import (
	"testing"
	"time"
)

// StartT starts a Gitea with the zero Options, stops it when the test ends
// and fails the test if it does not start. It never skips: a missing binary
// fails the test with a message saying to run 'make gitea-bin'.
func StartT(t testing.TB) *Server {
	t.Helper()
	return StartTWith(t, Options{})
}

// StartTWith is StartT with Options.
func StartTWith(t testing.TB, opts Options) *Server {
	t.Helper()
	start := time.Now()
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop gitea %s: %v", s.URL, err)
		}
	})
	t.Logf("gitea %s (%s) ready in %s", Version, s.URL, time.Since(start).Round(time.Millisecond))
	return s
}
