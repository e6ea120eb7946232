package review

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/k3sync/k3sync/internal/forge"
)

// countingForge counts listings and has no pull requests; it is a unit
// test stand-in for the loop's timing.
type countingForge struct {
	forge.Forge
	lists atomic.Int32
}

func (f *countingForge) OpenPullRequests(context.Context, string) ([]forge.PullRequest, error) {
	f.lists.Add(1)
	return nil, nil
}

func TestStartSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &countingForge{}
		var readyCalls atomic.Int32
		ready := func() error {
			if readyCalls.Add(1) <= 3 {
				return errors.New("first sync not finished")
			}
			return nil
		}
		loop := New(f, nil, nil, Options{Interval: time.Minute, Ready: ready, Logger: testLogger(t)})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- loop.Start(ctx) }()

		// Held back at 0s, 2s and 4s; the first listing at 6s.
		synctest.Wait()
		if n := f.lists.Load(); n != 0 {
			t.Fatalf("%d listings before the first sync", n)
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if n := f.lists.Load(); n != 1 {
			t.Fatalf("%d listings once ready, want 1", n)
		}
		// Then every interval, and at once on Trigger.
		time.Sleep(time.Minute)
		synctest.Wait()
		loop.Trigger()
		synctest.Wait()
		if n := f.lists.Load(); n != 3 {
			t.Fatalf("%d listings after an interval and a trigger, want 3", n)
		}
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if n := f.lists.Load(); n != 3 {
			t.Fatalf("%d listings: a trigger restarts the interval", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := f.lists.Load(); n != 4 {
			t.Fatalf("%d listings, want 4", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
