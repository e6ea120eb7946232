package review

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/k3sync/k3sync/internal/forge"
)

// Metrics counts what the loop could not tell the forge at once
// (metrics.Forge).
type Metrics interface {
	// ForgeRateLimited counts a rate limit answer.
	ForgeRateLimited()
	// ForgeStatusDropped counts a status never posted: "superseded" by a
	// newer one of the same commit and context, or "overflow" of the
	// queue.
	ForgeStatusDropped(reason string)
}

// Drop reasons of Metrics.ForgeStatusDropped.
const (
	DropSuperseded = "superseded"
	DropOverflow   = "overflow"
)

// maxQueued bounds the statuses waiting to be posted: a forge down for
// hours keeps the newest.
const maxQueued = 100

// Backoff of a status that failed to post for another reason than a rate
// limit: 1s, 2s, 4s, … up to 5m.
const (
	statusBackoffMin = time.Second
	statusBackoffMax = 5 * time.Minute
)

// statusKey is what a newer status replaces: the forge keeps one per
// commit and context.
type statusKey struct{ sha, context string }

// queued is a status not posted yet.
type queued struct {
	key      statusKey
	status   forge.Status
	attempts int
	// next is when it may be tried again.
	next time.Time
}

// outbox holds the statuses not posted yet, oldest first.
type outbox struct {
	mu    sync.Mutex
	items []*queued
	max   int
	// dropped counts statuses dropped by reason, for the log line.
	dropped map[string]int
	// kick wakes the drainer.
	kick chan struct{}
	// postMu makes posts one at a time, in order: a status never lands
	// after the newer one that superseded it.
	postMu sync.Mutex
}

func newOutbox() *outbox {
	return &outbox{max: maxQueued, dropped: map[string]int{}, kick: make(chan struct{}, 1)}
}

// backoff is the wait after the n-th failed attempt.
func backoff(n int) time.Duration {
	d := statusBackoffMin
	for i := 1; i < n && d < statusBackoffMax; i++ {
		d *= 2
	}
	return min(d, statusBackoffMax)
}

// held is how long the forge still asked the loop to wait.
func (l *Loop) held() time.Duration {
	return time.Until(l.holdEnd())
}

// holdEnd is when the forge's wait ends. Every status that waits for it
// comes due at that same instant, so that they are posted oldest first.
func (l *Loop) holdEnd() time.Time {
	l.holdMu.Lock()
	defer l.holdMu.Unlock()
	return l.holdUntil
}

// noteLimit remembers a rate limit answer in err, the error of a call to
// the forge: no call to the forge until its wait elapsed.
func (l *Loop) noteLimit(ctx context.Context, err error) {
	wait, ok := forge.RetryAfter(err)
	if !ok {
		return
	}
	until := time.Now().Add(wait)
	l.holdMu.Lock()
	fresh := until.After(l.holdUntil)
	if fresh {
		l.holdUntil = until
	}
	l.holdMu.Unlock()
	if fresh {
		if l.opts.Metrics != nil {
			l.opts.Metrics.ForgeRateLimited()
		}
		l.log.WarnContext(ctx, "forge rate limit: no call to it until the wait elapsed", "retry_after", wait.Round(time.Second), "error", err)
	}
}

// heldErr is the error of a call not made during a rate limit wait, nil
// when the forge may be called.
func (l *Loop) heldErr() error {
	if wait := l.held(); wait > 0 {
		return &forge.RateLimitError{RetryAfter: wait}
	}
	return nil
}

// setStatus queues st for sha, replacing a queued status of the same
// context, and posts it now unless the forge asked to wait. A status
// that fails to post stays queued; Start's drainer posts it, with backoff,
// unless a newer one replaces it first.
func (l *Loop) setStatus(ctx context.Context, sha string, st forge.Status) error {
	q := l.enqueue(ctx, sha, st)
	err := l.post(ctx, q)
	l.wake()
	return err
}

// enqueue adds a status, dropping the queued one it supersedes and, over
// the bound, the oldest.
func (l *Loop) enqueue(ctx context.Context, sha string, st forge.Status) *queued {
	q := &queued{key: statusKey{sha, st.Context}, status: st, next: time.Now()}
	o := l.out
	o.mu.Lock()
	var drops []string
	if i := slices.IndexFunc(o.items, func(x *queued) bool { return x.key == q.key }); i >= 0 {
		o.items = slices.Delete(o.items, i, i+1)
		drops = append(drops, DropSuperseded)
	}
	o.items = append(o.items, q)
	var lost *queued
	if len(o.items) > o.max {
		lost = o.items[0]
		o.items = slices.Delete(o.items, 0, 1)
		drops = append(drops, DropOverflow)
	}
	for _, d := range drops {
		o.dropped[d]++
	}
	total := maps.Clone(o.dropped)
	o.mu.Unlock()
	for _, d := range drops {
		if l.opts.Metrics != nil {
			l.opts.Metrics.ForgeStatusDropped(d)
		}
		if d == DropSuperseded {
			l.log.DebugContext(ctx, "queued status replaced by a newer one", "revision", short(sha), "context", st.Context,
				"dropped_overflow", total[DropOverflow], "dropped_superseded", total[DropSuperseded])
		}
		if d == DropOverflow {
			l.log.WarnContext(ctx, "status queue full: the oldest status dropped, never posted", "revision", short(lost.key.sha), "context", lost.key.context,
				"state", lost.status.State, "dropped_overflow", total[DropOverflow], "dropped_superseded", total[DropSuperseded])
		}
	}
	return q
}

// post tries a queued status once, unless it was replaced or the forge
// asked to wait. Posted, it leaves the queue; failed, it is tried again
// after a backoff, or after the forge's wait.
func (l *Loop) post(ctx context.Context, q *queued) error {
	o := l.out
	o.postMu.Lock()
	defer o.postMu.Unlock()
	o.mu.Lock()
	live := slices.Contains(o.items, q)
	early := time.Now().Before(q.next)
	o.mu.Unlock()
	switch {
	case !live:
		return nil // replaced by a newer status, or posted
	case early:
		// Another post failed while this one waited its turn.
		return errNotDue
	}
	if err := l.heldErr(); err != nil {
		o.mu.Lock()
		q.next = l.holdEnd()
		o.mu.Unlock()
		return err
	}
	err := l.forge.SetStatus(ctx, q.key.sha, q.status)
	l.noteLimit(ctx, err)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		o.items = slices.DeleteFunc(o.items, func(x *queued) bool { return x == q })
		return nil
	}
	q.attempts++
	wait := backoff(q.attempts)
	q.next = time.Now().Add(wait)
	if _, ok := forge.RetryAfter(err); ok {
		// noteLimit set the forge's wait from this answer.
		q.next = l.holdEnd()
	}
	return err //nolint:wrapcheck // names the forge and commit
}

// errNotDue: a status is not due yet.
var errNotDue = errors.New("not due yet")

// wake tells the drainer the queue changed.
func (l *Loop) wake() {
	select {
	case l.out.kick <- struct{}{}:
	default:
	}
}

// drain posts queued statuses as they come due, until ctx ends.
func (l *Loop) drain(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-l.out.kick:
			timer.Stop()
		}
		if next := l.flush(ctx); !next.IsZero() {
			timer.Reset(time.Until(next))
		}
	}
}

// flush posts every due status, oldest first, each at most once, and
// returns when the next one is due (zero: none queued).
func (l *Loop) flush(ctx context.Context) time.Time {
	tried := map[*queued]bool{}
	for ctx.Err() == nil {
		due := l.due(tried)
		if due == nil {
			break
		}
		tried[due] = true
		if err := l.post(ctx, due); err != nil && !errors.Is(err, errNotDue) {
			if _, limited := forge.RetryAfter(err); !limited {
				l.log.WarnContext(ctx, "status not posted: retried with backoff", "revision", short(due.key.sha), "context", due.key.context, "attempts", due.attempts, "error", err)
			}
		}
	}
	o := l.out
	o.mu.Lock()
	defer o.mu.Unlock()
	var next time.Time
	for _, q := range o.items {
		if next.IsZero() || q.next.Before(next) {
			next = q.next
		}
	}
	return next
}

// due is the oldest queued status due now and not tried yet.
func (l *Loop) due(tried map[*queued]bool) *queued {
	o := l.out
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	for _, q := range o.items {
		if !tried[q] && !q.next.After(now) {
			return q
		}
	}
	return nil
}

// Queued is how many statuses wait to be posted.
func (l *Loop) Queued() int {
	l.out.mu.Lock()
	defer l.out.mu.Unlock()
	return len(l.out.items)
}
