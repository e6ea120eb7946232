package source

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Start polls the branch until ctx ends: at once, then every interval, or
// earlier when Trigger is called; after a failure it retries with backoff.
// It returns nil when ctx ends.
func (p *Poller) Start(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("git source: already started")
	}
	defer p.started.Store(false)
	for {
		// A trigger that arrived before this poll is answered by it; one
		// that arrives during the poll calls for another.
		select {
		case <-p.trigger:
		default:
		}
		_, err := p.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		failures := 0
		if err != nil {
			failures = p.Status().ConsecutiveFailures
		}
		t := time.NewTimer(p.wait(failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-p.trigger:
			t.Stop()
		}
	}
}

// Trigger asks Start for a poll now, e.g. on a push webhook. It never
// blocks; triggers that arrive while a poll is pending or running are
// answered by one poll.
func (p *Poller) Trigger() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// wait is the time until the next poll after failures consecutive failed
// fetches. Successful polls come every interval, up to 10% early so that
// replicas started together do not poll in step. Failed ones are retried
// after minBackoff, doubling with each failure up to the interval, with
// full jitter over the upper half of that.
func (p *Poller) wait(failures int) time.Duration {
	interval := p.cfg.Interval
	if failures == 0 {
		return interval - rand.N(interval/10+1)
	}
	d := interval
	if failures-1 < 32 {
		if b := p.minBackoff << (failures - 1); b > 0 && b < interval {
			d = b
		}
	}
	return d/2 + rand.N(d/2+1)
}
