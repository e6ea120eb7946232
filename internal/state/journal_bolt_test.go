package state

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

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
		})
	}()
	<-started
	// Meanwhile two runs and a failing write wait, to share the next one.
	errs := make(chan error, 3)
	for _, tenant := range []string{"payments", "search"} {
		go func() { errs <- b.AddRun(ctx, Run{ID: "1", Tenant: tenant, Revision: "aaa", Result: ResultSynced}) }()
	}
	refused := errors.New("refused")
	go func() { errs <- b.group(func(*bolt.Tx) error { return refused }) }()
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
