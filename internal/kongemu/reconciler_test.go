package kongemu

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kong/go-database-reconciler/pkg/diff"
	"github.com/kong/go-database-reconciler/pkg/dump"
	"github.com/kong/go-database-reconciler/pkg/file"
	"github.com/kong/go-database-reconciler/pkg/state"
	"github.com/kong/go-database-reconciler/pkg/utils"
	"github.com/kong/go-kong/kong"
)

type syncResult struct {
	creates, updates, deletes int32
}

func (r syncResult) String() string {
	return fmt.Sprintf("created=%d updated=%d deleted=%d", r.creates, r.updates, r.deletes)
}

// reconcile runs go-database-reconciler's dump → file → diff pipeline the
// way decK does, applying the changes unless dry is set.
// file.Get mutates its input, so content is produced afresh per run.
func reconcile(ctx context.Context, client *kong.Client, load func() (*file.Content, error), dry bool) (syncResult, error) {
	content, err := load()
	if err != nil {
		return syncResult{}, fmt.Errorf("reconcile load: %w", err)
	}
	raw, err := dump.Get(ctx, client, dump.Config{})
	if err != nil {
		return syncResult{}, fmt.Errorf("reconcile dump: %w", err)
	}
	current, err := state.Get(raw)
	if err != nil {
		return syncResult{}, fmt.Errorf("reconcile current state: %w", err)
	}
	info, err := client.Info.Get(ctx)
	if err != nil {
		return syncResult{}, fmt.Errorf("reconcile info: %w", err)
	}
	version, err := utils.ParseKongVersion(info.Version)
	if err != nil {
		return syncResult{}, fmt.Errorf("reconcile version %q: %w", info.Version, err)
	}
	targetRaw, err := file.Get(ctx, content, file.RenderConfig{CurrentState: current, KongVersion: version},
		dump.Config{}, client)
	if err != nil {
		return syncResult{}, fmt.Errorf("reconcile render file: %w", err)
	}
	target, err := state.Get(targetRaw)
	if err != nil {
		return syncResult{}, fmt.Errorf("reconcile target state: %w", err)
	}
	noop := func(...any) {}
	syncer, err := diff.NewSyncer(diff.SyncerOpts{
		CurrentState: current, TargetState: target, KongClient: client,
		SilenceWarnings: true,
		CreatePrintln:   noop, UpdatePrintln: noop, DeletePrintln: noop,
	})
	if err != nil {
		return syncResult{}, fmt.Errorf("reconcile syncer: %w", err)
	}
	stats, errs, _ := syncer.Solve(ctx, 4, dry, false)
	if len(errs) > 0 {
		return syncResult{}, fmt.Errorf("reconcile solve: %v", errs)
	}
	return syncResult{
		creates: stats.CreateOps.Count(),
		updates: stats.UpdateOps.Count(),
		deletes: stats.DeleteOps.Count(),
	}, nil
}

func loadFile(path string, edit func(*file.Content)) func() (*file.Content, error) {
	return func() (*file.Content, error) {
		c, err := file.GetContentFromFiles([]string{path}, false)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if edit != nil {
			edit(c)
		}
		return c, nil
	}
}

func newReconcilerClient(t *testing.T, emu *Server) *kong.Client {
	t.Helper()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	client, err := kong.NewClient(kong.String(srv.URL), srv.Client())
	if err != nil {
		t.Fatalf("kong client: %v", err)
	}
	return client
}

func TestReconcilerRoundTrip(t *testing.T) {
	ctx := t.Context()
	emu := New(Options{})
	client := newReconcilerClient(t, emu)

	content := loadFile("testdata/reconciler.yaml", nil)

	first, err := reconcile(ctx, client, content, false)
	if err != nil {
		t.Fatalf("first sync: %v", err)
	}
	if first.creates == 0 || first.updates != 0 || first.deletes != 0 {
		t.Fatalf("first sync: got %v, want only creates", first)
	}
	wantCounts := map[string]int{
		"services": 2, "routes": 2, "plugins": 7, "consumers": 2, "upstreams": 1, "targets": 2,
		"key-auths": 2, "basic-auths": 1, "acls": 1, "jwts": 1, "hmac-auths": 1,
	}
	for entity, want := range wantCounts {
		if got := emu.Count(entity); got != want {
			t.Errorf("after sync: %d %s stored, want %d", got, entity, want)
		}
	}

	emu.ResetStats()
	second, err := reconcile(ctx, client, content, true)
	if err != nil {
		t.Fatalf("second diff: %v", err)
	}
	if second != (syncResult{}) {
		t.Fatalf("second diff: got %v, want no changes", second)
	}
	if w := emu.Writes(); w != 0 {
		t.Fatalf("no-op diff sent %d writes: %v", w, emu.Stats())
	}

	// A real sync with nothing to do must not write either.
	again, err := reconcile(ctx, client, content, false)
	if err != nil {
		t.Fatalf("no-op sync: %v", err)
	}
	if again != (syncResult{}) || emu.Writes() != 0 {
		t.Fatalf("no-op sync: got %v with %d writes (%v)", again, emu.Writes(), emu.Stats())
	}
}

func TestReconcilerUpdateAndDelete(t *testing.T) {
	ctx := t.Context()
	emu := New(Options{})
	client := newReconcilerClient(t, emu)

	if _, err := reconcile(ctx, client, loadFile("testdata/reconciler.yaml", nil), false); err != nil {
		t.Fatalf("initial sync: %v", err)
	}

	// Change one service, drop the billing service (and its route and
	// plugin) and one consumer (cascading its credentials).
	content := loadFile("testdata/reconciler.yaml", func(c *file.Content) {
		c.Services[0].Retries = kong.Int(9)
		c.Services = c.Services[:1]
		c.Consumers = c.Consumers[:1]
	})
	res, err := reconcile(ctx, client, content, false)
	if err != nil {
		t.Fatalf("update sync: %v", err)
	}
	if res.updates != 1 || res.deletes == 0 || res.creates != 0 {
		t.Fatalf("update sync: got %v", res)
	}
	if got := emu.Count("services"); got != 1 {
		t.Fatalf("services after delete: %d", got)
	}
	if got := emu.Count("hmac-auths"); got != 0 {
		t.Fatalf("hmac-auths after consumer delete: %d", got)
	}
	again, err := reconcile(ctx, client, content, true)
	if err != nil {
		t.Fatalf("diff after update: %v", err)
	}
	if again != (syncResult{}) {
		t.Fatalf("diff after update: got %v, want none", again)
	}
}

func indent(s, pad string) string {
	return pad + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+pad)
}

func TestReconcilerTLSEntities(t *testing.T) {
	ctx := t.Context()
	emu := New(Options{})
	client := newReconcilerClient(t, emu)
	cert, key := selfSigned(t, false)
	ca, _ := selfSigned(t, true)
	doc := fmt.Sprintf(`_format_version: "3.0"
certificates:
- id: 0e2b7ae4-3fb4-4c5e-9a4b-6a4d1f1b9f11
  cert: |
%s
  key: |
%s
  tags: [k3sync]
  snis:
  - name: api.example.com
  - name: www.example.com
ca_certificates:
- cert: |
%s
  tags: [k3sync]
services:
- name: secure
  url: https://secure.internal:8443
  client_certificate: 0e2b7ae4-3fb4-4c5e-9a4b-6a4d1f1b9f11
  tls_verify: true
  routes:
  - name: secure
    paths: [/secure]
    protocols: [https]
`, indent(cert, "    "), indent(key, "    "), indent(ca, "    "))
	path := filepath.Join(t.TempDir(), "tls.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	first, err := reconcile(ctx, client, loadFile(path, nil), false)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if first.creates == 0 || emu.Count("snis") != 2 || emu.Count("ca_certificates") != 1 {
		t.Fatalf("sync: %v, snis=%d ca=%d", first, emu.Count("snis"), emu.Count("ca_certificates"))
	}
	emu.ResetStats()
	second, err := reconcile(ctx, client, loadFile(path, nil), true)
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	if second != (syncResult{}) || emu.Writes() != 0 {
		t.Fatalf("diff after sync: %v, %d writes", second, emu.Writes())
	}
}

// BenchmarkReconcilerNoop measures a no-op go-database-reconciler diff
// against the emulator (dump + render + diff, no writes).
func BenchmarkReconcilerNoop(b *testing.B) {
	ctx := b.Context()
	emu := New(Options{})
	srv := httptest.NewServer(emu)
	b.Cleanup(srv.Close)
	client, err := kong.NewClient(kong.String(srv.URL), srv.Client())
	if err != nil {
		b.Fatal(err)
	}
	load := loadFile("testdata/reconciler.yaml", nil)
	if _, err := reconcile(ctx, client, load, false); err != nil {
		b.Fatal(err)
	}
	emu.ResetStats()
	for b.Loop() {
		res, err := reconcile(ctx, client, load, true)
		if err != nil || res != (syncResult{}) {
			b.Fatalf("noop diff: %v %v", res, err)
		}
	}
	if emu.Writes() != 0 {
		b.Fatalf("noop diff wrote: %v", emu.Stats())
	}
}
