package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// TestGroupCommitKeepsOthersWhenOneFails: runs recorded while another
// write commits share the next transaction; one write of that group
// failing fails that write alone, and the others are committed.
func TestGroupCommitKeepsOthersWhenOneFails(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	ctx := t.Context()

	// A write holds the transaction until released.
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- b.group(func(*bolt.Tx) error {
			close(started)
			<-release
			return nil
		}, nil)
	}()
	<-started
	// Meanwhile two runs and a failing write wait, to share the next one.
	errs := make(chan error, 3)
	for _, tenant := range []string{"payments", "search"} {
		go func() { errs <- b.AddRun(ctx, Run{ID: "1", Tenant: tenant, Revision: "aaa", Result: ResultSynced}) }()
	}
	refused := errors.New("refused")
	go func() { errs <- b.group(func(*bolt.Tx) error { return refused }, nil) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		b.commits.mu.Lock()
		queued := len(b.commits.queue)
		b.commits.mu.Unlock()
		if queued == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued behind the first; want 3", queued)
		}
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	var failed []error
	for range 3 {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) != 1 || !errors.Is(failed[0], refused) {
		t.Errorf("the group's writes failed with %v; want only the refused one", failed)
	}
	for _, tenant := range []string{"payments", "search"} {
		if s, err := b.Status(ctx, tenant); err != nil || s.Revision != "aaa" {
			t.Errorf("%s after its run was grouped with a failing write: %+v, %v; want at aaa", tenant, s, err)
		}
	}
}

// TestBoltIndexFollowsGroupedSaves: saves made side by side share
// transactions, and the index of who holds what, first read while they
// are under way, says what the file holds after them: what a reopened
// file, its index read from it, says.
func TestBoltIndexFollowsGroupedSaves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := OpenBolt(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for n := range 20 {
				e := Entry{Tenant: fmt.Sprintf("t%02d", w), Target: "kubernetes/x", Resources: map[string]json.RawMessage{
					fmt.Sprintf("Namespace//t%02d-%d", w, n): json.RawMessage(`{}`),
					"Namespace//shared":                      json.RawMessage(`{}`),
				}}
				if err := b.Save(ctx, e); err != nil {
					t.Error(err)
				}
			}
		})
	}
	// The index is first read while the saves commit.
	wg.Go(func() {
		if _, err := ReadInventories(ctx, b, "kubernetes/x"); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	got, err := ReadInventories(ctx, b, "kubernetes/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err = OpenBolt(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	want, err := ReadInventories(ctx, b, "kubernetes/x")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.Holders, got.Holders); diff != "" {
		t.Errorf("the index after grouped saves (-the file's +kept):\n%s", diff)
	}
	if len(want.Holders) != 17 {
		t.Errorf("the file holds %d IDs; want each tenant's last and the shared one, 17", len(want.Holders))
	}
}
