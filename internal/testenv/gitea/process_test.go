package gitea

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

func TestMissingBinaryFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Start(t.Context(), Options{BinDir: dir})
	want := "gitea not found in " + dir + ": run 'make gitea-bin'"
	if err == nil || err.Error() != want {
		t.Fatalf("Start with an empty BinDir: %v, want %q", err, want)
	}
}

func TestRenderQuotesWhereNeeded(t *testing.T) {
	t.Parallel()
	cfg := settings{"": {"A": "x"}, "s": {"K": "a;b", "P": "/tmp/x"}}
	got := string(cfg.render())
	want := "A = x\n\n[s]\nK = `a;b`\nP = /tmp/x\n"
	if got != want {
		t.Errorf("render = %q, want %q", got, want)
	}
}

// TestTakenPortIsRecognized starts gitea on a port that is already taken:
// Start retries such a start with a fresh port only if addrInUse recognizes
// the failure from gitea's output.
func TestTakenPortIsRecognized(t *testing.T) {
	t.Parallel()
	bin, staticRoot, err := findBinary("")
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()
	s := &Server{Dir: t.TempDir(), bin: bin, client: &http.Client{}}
	t.Cleanup(func() { _ = s.Stop() })
	err = s.tryStart(t.Context(), staticRoot, taken.Addr().(*net.TCPAddr).Port, newSecrets(), Options{StartTimeout: 30 * time.Second})
	if !proc.AddrInUse(err) {
		t.Fatalf("gitea on a taken port: %v, want an address-in-use start error", err)
	}
	t.Log(err)
}
