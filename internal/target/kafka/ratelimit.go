package kafka

import (
	"context"
	"sync"
	"time"
)

// bucket is a token bucket of topic mutations (a topic created, grown or
// deleted is one mutation), refilled at rate per second up to one second's
// worth. A batch takes all the tokens it needs at once and may run the
// bucket into debt; the next batch waits until the debt is paid. So one
// batch is never split, and the average rate over batches stays bounded.
type bucket struct {
	rate float64 // tokens per second; 0 means unbounded

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(rate float64) *bucket {
	return &bucket{rate: rate, tokens: max(rate, 1)}
}

// take waits until the bucket is out of debt, then takes n tokens.
func (b *bucket) take(ctx context.Context, n int) error {
	if b.rate <= 0 || n <= 0 {
		return nil
	}
	b.mu.Lock()
	now := time.Now()
	if !b.last.IsZero() {
		b.tokens = min(b.tokens+now.Sub(b.last).Seconds()*b.rate, max(b.rate, 1))
	}
	b.last = now
	wait := time.Duration(0)
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	// Book the tokens now, so that concurrent batches queue behind us.
	b.tokens -= float64(n)
	b.mu.Unlock()
	if wait == 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		b.mu.Lock()
		b.tokens += float64(n)
		b.mu.Unlock()
		return ctx.Err() //nolint:wrapcheck // the caller names the batch
	case <-timer.C:
		return nil
	}
}
