package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// SignatureHeader carries a webhook body's HMAC-SHA256: "sha256=<hex>".
const SignatureHeader = "X-K3sync-Signature"

// counters are one sink's Stats.
type counters struct {
	queued, dropped, delivered, failed, suppressed atomic.Int64
}

// worker sends one sink's events, one at a time.
type worker struct {
	n      *Notifier
	sink   Sink
	format format
	queue  chan Event
	stats  counters
	// droppedLogged is when a drop was last logged (Unix nanoseconds).
	droppedLogged atomic.Int64

	// The rate window: when it began, what it sent, what it held back.
	windowStart time.Time
	sent        int
	held        map[Type]int
	heldTotal   int
}

func (w *worker) run(ctx context.Context) {
	defer w.n.wg.Done()
	var flush *time.Timer
	var flushC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			if left := len(w.queue) + w.heldTotal; left > 0 {
				w.n.log.Warn("notifications not sent at shutdown", "sink", w.sink.Name, "events", left)
			}
			if flush != nil {
				flush.Stop()
			}
			return
		case ev := <-w.queue:
			now := time.Now()
			if w.windowStart.IsZero() || now.Sub(w.windowStart) >= w.n.opts.RateWindow {
				// The window ended before its timer fired: sum it up now.
				if flush != nil {
					flush.Stop()
					flush, flushC = nil, nil
				}
				w.summarise(ctx, now)
				w.windowStart, w.sent = now, 0
			}
			if w.sent >= w.sink.RatePerMinute {
				if w.held == nil {
					w.held = map[Type]int{}
				}
				w.held[ev.Type]++
				w.heldTotal++
				w.stats.suppressed.Add(1)
				if flushC == nil {
					flush = time.NewTimer(w.windowStart.Add(w.n.opts.RateWindow).Sub(now))
					flushC = flush.C
				}
				continue
			}
			w.sent++
			w.deliver(ctx, ev)
		case now := <-flushC:
			// The window ended: sum up what it held back; the next event
			// opens a new window.
			flush, flushC = nil, nil
			w.summarise(ctx, now)
		}
	}
}

// summarise sends one message for the events the window held back.
func (w *worker) summarise(ctx context.Context, now time.Time) {
	if w.heldTotal == 0 {
		return
	}
	var parts []string
	for t, c := range w.held {
		parts = append(parts, fmt.Sprintf("%s: %d", t, c))
	}
	sort.Strings(parts)
	ev := Event{
		Type: Suppressed, Count: w.heldTotal, Time: now,
		Message: fmt.Sprintf("%d more events suppressed by the rate limit of %d per %s (%s)",
			w.heldTotal, w.sink.RatePerMinute, w.n.opts.RateWindow, strings.Join(parts, ", ")),
	}
	w.n.log.Warn("notifications suppressed by the rate limit", "sink", w.sink.Name, "events", w.heldTotal)
	w.held, w.heldTotal = nil, 0
	w.deliver(ctx, ev)
}

// deliver posts ev, retrying what may succeed later.
func (w *worker) deliver(ctx context.Context, ev Event) {
	body, ctype, err := w.format(ev, w.n.opts.Instance, w.n.opts.NewID())
	if err != nil {
		w.stats.failed.Add(1)
		w.n.log.Error("notification not formatted", "sink", w.sink.Name, "event", ev.Type, "error", err)
		return
	}
	for attempt := 1; ; attempt++ {
		wait, retry, err := w.post(ctx, body, ctype)
		if err == nil {
			w.stats.delivered.Add(1)
			w.n.log.Debug("notification sent", "sink", w.sink.Name, "event", ev.Type, "attempts", attempt)
			return
		}
		if !retry || attempt >= w.sink.MaxAttempts || ctx.Err() != nil {
			w.stats.failed.Add(1)
			w.n.log.Warn("notification not delivered", "sink", w.sink.Name, "event", ev.Type, "attempts", attempt, "error", err.Error())
			return
		}
		delay := w.backoff(attempt)
		if wait > 0 {
			delay = min(wait, w.n.opts.MaxRetryAfter)
		}
		w.n.log.Debug("notification failed, retrying", "sink", w.sink.Name, "event", ev.Type, "attempt", attempt, "in", delay, "error", err.Error())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			w.stats.failed.Add(1)
			return
		case <-t.C:
		}
	}
}

// backoff is the delay before retry n+1: BackoffBase doubled per
// attempt, capped at BackoffMax.
func (w *worker) backoff(attempt int) time.Duration {
	d := w.n.opts.BackoffBase
	for i := 1; i < attempt && d < w.n.opts.BackoffMax; i++ {
		d *= 2
	}
	return min(d, w.n.opts.BackoffMax)
}

// post sends body once. It returns the receiver's Retry-After, whether a
// retry may succeed, and an error that never holds the URL.
func (w *worker) post(ctx context.Context, body []byte, ctype string) (time.Duration, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, w.sink.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.sink.URL, bytes.NewReader(body))
	if err != nil {
		return 0, false, errors.New("invalid sink URL") // the parse error quotes it
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "k3sync")
	if len(w.sink.HMACKey) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.sink.HMACKey, body))
	}
	resp, err := w.n.opts.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL, the token of a Slack or Teams webhook
		}
		return 0, true, fmt.Errorf("post: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return retryAfter(resp.Header.Get("Retry-After")), true, fmt.Errorf("receiver answered %d", resp.StatusCode)
	default:
		return 0, false, fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// Sign is the X-K3sync-Signature of body: "sha256=" and the hex
// HMAC-SHA256 of the body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under key, in constant
// time: for receivers written in Go.
func Verify(key, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(key, body)), []byte(sig))
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
