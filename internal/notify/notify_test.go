package notify

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/testenv/syncbuf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// receiver is a local webhook receiver that records every request.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	times   []time.Time
	// respond answers request n (from 1); nil answers 200.
	respond func(n int, w http.ResponseWriter)
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter)) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, b)
		rc.headers = append(rc.headers, req.Header.Clone())
		rc.times = append(rc.times, time.Now())
		n := len(rc.bodies)
		rc.mu.Unlock()
		if rc.respond != nil {
			rc.respond(n, w)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// wait returns the first n requests' bodies once they have arrived.
func (rc *receiver) wait(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc.mu.Lock()
		got := len(rc.bodies)
		out := slices.Clone(rc.bodies)
		rc.mu.Unlock()
		if got >= n {
			return out[:n]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests arrived, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies)
}

func debugLogger(buf *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var at = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

// events is one event of each type, as the reconciler makes them.
func events() []Event {
	rev := "0123456789abcdef0123456789abcdef01234567"
	return []Event{
		{Type: SyncFailed, Tenant: "payments", Owners: []string{"team-payments"}, Revision: rev, Trigger: "poll", Count: 2,
			Message: "kubernetes/eu-west/Namespace/payments: apiserver unavailable", Time: at},
		{Type: SyncBlocked, Tenant: "payments", Owners: []string{"team-payments"}, Revision: rev, Trigger: "webhook", Count: 3,
			Message: `deny sync window "0 22 * * *" (8h) is active`, Time: at},
		{Type: DriftDetected, Tenant: "payments", Owners: []string{"team-payments"}, Revision: rev, Count: 2,
			Resources: []string{"kubernetes/eu-west/ResourceQuota/payments/quota", "kafka/main/Topic/payments.orders"},
			Message:   "drifted from Git: kubernetes/eu-west/ResourceQuota/payments/quota, kafka/main/Topic/payments.orders", Time: at},
		{Type: RevisionInvalid, Tenant: "payments", Owners: []string{"team-payments"}, Revision: rev, Count: 4,
			Message: "tenants/payments/tenant.cue:3:5: owners: incomplete value [...string]", Time: at},
		{Type: TenantRemoved, Tenant: "analytics", Owners: []string{"team-data"}, Revision: rev, Count: 5,
			Message: "removed from Git: its offboarding is planned: 4 to delete, 1 orphaned, 0 blocked", Time: at},
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// normalise makes a body comparable: indented, its CloudEvents id
// replaced (the time is the event's, fixed by the test).
func normalise(t *testing.T, kind string, body []byte) []byte {
	t.Helper()
	if kind == "webhook" {
		var ce CloudEvent
		if err := json.Unmarshal(body, &ce); err != nil {
			t.Fatal(err)
		}
		if !uuidRE.MatchString(ce.ID) {
			t.Errorf("id %q is not a UUID", ce.ID)
		}
		body = bytes.Replace(body, []byte(`"id":"`+ce.ID+`"`), []byte(`"id":"normalised-id"`), 1)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		t.Fatalf("%s body is not JSON: %v\n%s", kind, err, body)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil { //nolint:gosec // test data
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/notify -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

// TestGoldenPayloads sends one event of each type to one sink of each
// kind, through HTTP, and compares what arrived with testdata.
func TestGoldenPayloads(t *testing.T) {
	kinds := []string{"webhook", "slack", "teams"}
	recv := map[string]*receiver{}
	var sinks []Sink
	for _, k := range kinds {
		recv[k] = newReceiver(t, nil)
		s := Sink{Name: k, Kind: k, URL: recv[k].srv.URL + "/hook"}
		if k == "webhook" {
			s.HMACKey = []byte("golden-key")
		}
		sinks = append(sinks, s)
	}
	n, err := New(sinks, []Route{{Events: []Type{"*"}, Sinks: kinds}}, Options{Instance: "prod-eu", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	evs := events()
	for _, ev := range evs {
		n.Notify(ev)
	}
	for _, k := range kinds {
		bodies := recv[k].wait(t, len(evs))
		for i, ev := range evs {
			golden(t, k+"/"+string(ev.Type)+".json", normalise(t, k, bodies[i]))
		}
		// The rate limit's summary, formatted as its sender formats it.
		b, _, err := formats[k](Event{Type: Suppressed, Count: 7, Time: at,
			Message: "7 more events suppressed by the rate limit of 20 per 1m0s (drift.detected: 2, sync.failed: 5)"}, "prod-eu", newUUID())
		if err != nil {
			t.Fatal(err)
		}
		golden(t, k+"/"+string(Suppressed)+".json", normalise(t, k, b))
	}
	if st := n.Stats(); st.Delivered != int64(len(evs)*len(kinds)) || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestWebhookCloudEvent: a webhook body is a structured CloudEvent whose
// X-K3sync-Signature is the HMAC-SHA256 of the body under the key, and
// every event has its own id.
func TestWebhookCloudEvent(t *testing.T) {
	rc := newReceiver(t, nil)
	key := []byte("webhook-hmac-key")
	n, err := New([]Sink{{Name: "audit", Kind: "webhook", URL: rc.srv.URL, HMACKey: key}},
		[]Route{{Sinks: []string{"audit"}}}, Options{Instance: "prod-eu", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	evs := events()
	for _, ev := range evs[:2] {
		n.Notify(ev)
	}
	bodies := rc.wait(t, 2)
	ids := map[string]bool{}
	for i, body := range bodies {
		h := rc.headers[i]
		if !Verify(key, body, h.Get(SignatureHeader)) {
			t.Errorf("signature %q does not verify", h.Get(SignatureHeader))
		}
		if Verify([]byte("other-key"), body, h.Get(SignatureHeader)) {
			t.Error("the signature verifies under another key")
		}
		if ct := h.Get("Content-Type"); ct != "application/cloudevents+json; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		var ce CloudEvent
		if err := json.Unmarshal(body, &ce); err != nil {
			t.Fatal(err)
		}
		if ce.SpecVersion != "1.0" || ce.Source != "k3sync/prod-eu" || ce.Type != "io.k3sync."+string(evs[i].Type) ||
			ce.Subject != "payments" || ce.Time != "2026-12-05T09:00:00Z" || ce.DataContentType != "application/json" {
			t.Errorf("cloud event %+v", ce)
		}
		ids[ce.ID] = true
	}
	if len(ids) != 2 {
		t.Errorf("ids %v are not unique", ids)
	}
}

// hostile is a tenant string with every control sequence Slack, Teams,
// Markdown and terminals interpret.
const hostile = "<!channel> <!here> @here @channel <@U123> *bold* _it_ ~s~ [link](http://x) <http://evil|click> `code` ```fence``` &amp; {{DATE(2017-02-14T06:08:00Z)}}\nsecond line \x1b[31mred\x1b[0m \u202egnp.exe"

// TestHostileStringsArriveInert: tenant strings with Slack and Teams
// control sequences reach each sink as text that nothing interprets.
func TestHostileStringsArriveInert(t *testing.T) {
	kinds := []string{"webhook", "slack", "teams"}
	recv := map[string]*receiver{}
	var sinks []Sink
	for _, k := range kinds {
		recv[k] = newReceiver(t, nil)
		sinks = append(sinks, Sink{Name: k, Kind: k, URL: recv[k].srv.URL, HMACKey: []byte("k")})
	}
	n, err := New(sinks, []Route{{Sinks: kinds}}, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.Notify(Event{Type: SyncFailed, Tenant: "pay" + hostile, Owners: []string{hostile}, Revision: hostile, Trigger: "poll",
		Message: hostile, Resources: []string{hostile}, Count: 1, Time: at})

	// Slack: every text is mrkdwn or plain_text; what the tenant wrote is
	// in code spans, with no <, > or mention syntax left.
	var slack any
	if err := json.Unmarshal(recv["slack"].wait(t, 1)[0], &slack); err != nil {
		t.Fatal(err)
	}
	texts := collect(slack, "text")
	if len(texts) < 4 {
		t.Fatalf("slack texts %q", texts)
	}
	spans := regexp.MustCompile("```[^`]*```|`[^`]*`")
	for _, s := range texts {
		for _, bad := range []string{"<!", "<@", "<http", "\x1b", "\u202e", "\nsecond line"} {
			if strings.Contains(s, bad) {
				t.Errorf("slack text has %q: %q", bad, s)
			}
		}
		outside := spans.ReplaceAllString(s, "")
		for _, bad := range []string{"@here", "@channel", "*bold*", "_it_", "~s~", "[link]", "http://", "{{"} {
			if strings.Contains(outside, bad) {
				t.Errorf("slack text has %q outside a code span: %q", bad, outside)
			}
		}
	}

	// Teams: TextBlocks (Markdown) hold only k3sync's words; TextRuns
	// (no Markdown) hold the data on one line, with no date function.
	var teams any
	if err := json.Unmarshal(recv["teams"].wait(t, 1)[0], &teams); err != nil {
		t.Fatal(err)
	}
	for _, el := range elements(teams) {
		text, _ := el["text"].(string)
		switch el["type"] {
		case "TextBlock":
			if strings.ContainsAny(text, "<>@*_[`{\x1b\n") {
				t.Errorf("teams TextBlock holds data: %q", text)
			}
		case "TextRun":
			if strings.ContainsAny(text, "\n\x1b\u202e") || strings.Contains(text, "{{") {
				t.Errorf("teams TextRun is not inert: %q", text)
			}
		}
	}

	// Webhook: JSON, one line per string, no controls, <, > and & escaped.
	body := recv["webhook"].wait(t, 1)[0]
	if bytes.ContainsAny(body, "<>\x1b") {
		t.Errorf("webhook body has raw <, > or ESC: %s", body)
	}
	var ce CloudEvent
	if err := json.Unmarshal(body, &ce); err != nil {
		t.Fatal(err)
	}
	for _, s := range append([]string{ce.Subject, ce.Data.Message, ce.Data.Revision}, ce.Data.Owners...) {
		if strings.ContainsAny(s, "\n\x1b\u202e") {
			t.Errorf("webhook string %q has a control", s)
		}
	}
}

// collect returns every string under key in a decoded JSON document.
func collect(v any, key string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == key {
				out = append(out, s)
			}
			out = append(out, collect(e, key)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, collect(e, key)...)
		}
	}
	return out
}

// elements returns every object with a "type" in a decoded document.
func elements(v any) []map[string]any {
	var out []map[string]any
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["type"]; ok {
			out = append(out, v)
		}
		for _, e := range v {
			out = append(out, elements(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, elements(e)...)
		}
	}
	return out
}

// TestNoSecretInPayloadsOrLogs: the HMAC key and the Slack and Teams URL
// tokens appear in no body, header or log line, whether delivery works,
// is refused, fails, or cannot connect.
func TestNoSecretInPayloadsOrLogs(t *testing.T) {
	ok := newReceiver(t, nil)
	failing := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	refusing := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) })
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	secrets := []string{"HMACSECRETKEY", "SLACKTOKEN1", "SLACKTOKEN2", "TEAMSTOKEN3", "TEAMSTOKEN4"}
	sinks := []Sink{
		{Name: "audit", Kind: "webhook", URL: ok.srv.URL, HMACKey: []byte(secrets[0])},
		{Name: "slack-ok", Kind: "slack", URL: ok.srv.URL + "/services/T0/B0/" + secrets[1]},
		{Name: "slack-down", Kind: "slack", URL: closedURL + "/services/T0/B0/" + secrets[2], MaxAttempts: 2},
		{Name: "teams-500", Kind: "teams", URL: failing.srv.URL + "/webhookb2/" + secrets[3], MaxAttempts: 2},
		{Name: "teams-403", Kind: "teams", URL: refusing.srv.URL + "/webhookb2/" + secrets[4]},
		{Name: "bad-url", Kind: "slack", URL: "http://[::1]:namedport/" + secrets[1]},
	}
	var names []string
	for _, s := range sinks {
		names = append(names, s.Name)
	}
	var logs syncbuf.Buffer
	log := debugLogger(&logs)
	n, err := New(sinks, []Route{{Sinks: names}}, Options{Logger: log, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events() {
		n.Notify(ev)
	}
	want := int64(len(events()) * len(sinks))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st := n.Stats()
		if st.Delivered+st.Failed == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want %d delivered or failed", st, want)
		}
	}
	n.Close()
	// Printing a sink shows no secret either.
	log.Info("sinks", "sink", sinks[1], "all", fmt.Sprint(sinks[1]), "v", fmt.Sprintf("%v %s", sinks[2], sinks[3]))
	var seen []string
	for _, rc := range []*receiver{ok, failing, refusing} {
		rc.mu.Lock()
		for i, b := range rc.bodies {
			seen = append(seen, string(b), fmt.Sprint(rc.headers[i]))
		}
		rc.mu.Unlock()
	}
	seen = append(seen, logs.String())
	for _, s := range seen {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("secret %s leaked into %q", secret, s)
			}
		}
	}
	if !strings.Contains(logs.String(), "notification not delivered") {
		t.Errorf("failures were not logged:\n%s", logs.String())
	}
}

// TestRetryHonoursRetryAfter: a 429 with Retry-After waits that long, a
// 503 is retried after the backoff, and the same body (same id) arrives
// each time; a 4xx is not retried; a receiver that keeps failing is given
// up after MaxAttempts; a huge Retry-After is capped.
func TestRetryHonoursRetryAfter(t *testing.T) {
	quiet := Options{Logger: slog.New(slog.DiscardHandler), BackoffBase: 20 * time.Millisecond}
	t.Run("429 then 503 then 200", func(t *testing.T) {
		rc := newReceiver(t, func(n int, w http.ResponseWriter) {
			switch n {
			case 1:
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
			case 2:
				w.WriteHeader(http.StatusServiceUnavailable)
			default:
				w.WriteHeader(http.StatusNoContent)
			}
		})
		n, err := New([]Sink{{Name: "w", Kind: "webhook", URL: rc.srv.URL, HMACKey: []byte("k")}}, []Route{{Sinks: []string{"w"}}}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		n.Notify(events()[0])
		bodies := rc.wait(t, 3)
		rc.mu.Lock()
		gap1, gap2 := rc.times[1].Sub(rc.times[0]), rc.times[2].Sub(rc.times[1])
		rc.mu.Unlock()
		if gap1 < 950*time.Millisecond {
			t.Errorf("retried %s after a 429 with Retry-After: 1", gap1)
		}
		if gap2 < 35*time.Millisecond || gap2 > 900*time.Millisecond {
			t.Errorf("retried %s after a 503, want the second backoff step (40ms)", gap2)
		}
		if !bytes.Equal(bodies[0], bodies[2]) {
			t.Error("a retry sent another body")
		}
		waitStats(t, n, func(s Stats) bool { return s.Delivered == 1 })
	})
	t.Run("4xx is not retried", func(t *testing.T) {
		rc := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadRequest) })
		n, err := New([]Sink{{Name: "s", Kind: "slack", URL: rc.srv.URL}}, []Route{{Sinks: []string{"s"}}}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		n.Notify(events()[0])
		waitStats(t, n, func(s Stats) bool { return s.Failed == 1 })
		time.Sleep(100 * time.Millisecond)
		if c := rc.count(); c != 1 {
			t.Errorf("%d requests for a 400, want 1", c)
		}
	})
	t.Run("given up after MaxAttempts, Retry-After capped", func(t *testing.T) {
		rc := newReceiver(t, func(_ int, w http.ResponseWriter) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusBadGateway)
		})
		o := quiet
		o.MaxRetryAfter = 30 * time.Millisecond
		n, err := New([]Sink{{Name: "t", Kind: "teams", URL: rc.srv.URL, MaxAttempts: 3}}, []Route{{Sinks: []string{"t"}}}, o)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		start := time.Now()
		n.Notify(events()[0])
		waitStats(t, n, func(s Stats) bool { return s.Failed == 1 })
		if c := rc.count(); c != 3 {
			t.Errorf("%d attempts, want 3", c)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("a Retry-After of an hour was not capped: %s", d)
		}
	})
	t.Run("timeout is retried", func(t *testing.T) {
		release := make(chan struct{})
		rc := newReceiver(t, func(n int, w http.ResponseWriter) {
			if n == 1 {
				<-release
			}
		})
		defer close(release)
		n, err := New([]Sink{{Name: "w", Kind: "webhook", URL: rc.srv.URL, HMACKey: []byte("k"), Timeout: 50 * time.Millisecond}},
			[]Route{{Sinks: []string{"w"}}}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		n.Notify(events()[0])
		waitStats(t, n, func(s Stats) bool { return s.Delivered == 1 })
	})
}

func waitStats(t *testing.T, n *Notifier, ok func(Stats) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(n.Stats()); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", n.Stats())
		}
	}
}

// TestDedupe: an event identical to one sent within the window is not
// sent again; another message, or the same after the window, is.
func TestDedupe(t *testing.T) {
	rc := newReceiver(t, nil)
	n, err := New([]Sink{{Name: "s", Kind: "slack", URL: rc.srv.URL}}, []Route{{Sinks: []string{"s"}}},
		Options{Logger: slog.New(slog.DiscardHandler), DedupeWindow: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ev := events()[0]
	n.Notify(ev)
	ev.Time = ev.Time.Add(time.Second) // another run, same failure
	n.Notify(ev)
	other := ev
	other.Message = "another error"
	n.Notify(other)
	rc.wait(t, 2)
	if st := n.Stats(); st.Deduped != 1 {
		t.Errorf("deduped %d, want 1", st.Deduped)
	}
	time.Sleep(350 * time.Millisecond)
	n.Notify(ev)
	rc.wait(t, 3)
	time.Sleep(50 * time.Millisecond)
	if c := rc.count(); c != 3 {
		t.Errorf("%d messages, want 3", c)
	}
}

// TestRateLimit: a sink sends at most its rate per window; the rest is
// counted and summed up in one message when the window ends.
func TestRateLimit(t *testing.T) {
	rc := newReceiver(t, nil)
	var logs syncbuf.Buffer
	n, err := New([]Sink{{Name: "s", Kind: "slack", URL: rc.srv.URL, RatePerMinute: 3}}, []Route{{Sinks: []string{"s"}}},
		Options{Logger: debugLogger(&logs), RateWindow: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for i := range 10 {
		ev := events()[0]
		ev.Message = fmt.Sprintf("flap %d", i)
		n.Notify(ev)
	}
	rc.wait(t, 3)
	time.Sleep(100 * time.Millisecond)
	if c := rc.count(); c != 3 {
		t.Fatalf("%d messages within the window, want 3", c)
	}
	bodies := rc.wait(t, 4)
	if !bytes.Contains(bodies[3], []byte("7 more events suppressed")) {
		t.Errorf("no summary: %s", bodies[3])
	}
	time.Sleep(500 * time.Millisecond)
	if c := rc.count(); c != 4 {
		t.Errorf("%d messages, want 3 and one summary", c)
	}
	if st := n.Stats(); st.Suppressed != 7 {
		t.Errorf("suppressed %d, want 7", st.Suppressed)
	}
	if !strings.Contains(logs.String(), "suppressed by the rate limit") {
		t.Error("the suppression was not logged")
	}
}

// TestFullQueueDropsWithoutBlocking: a receiver that hangs never blocks
// Notify; what the queue cannot hold is dropped, counted and logged.
func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter) { <-release })
	var logs syncbuf.Buffer
	n, err := New([]Sink{{Name: "s", Kind: "slack", URL: rc.srv.URL, RatePerMinute: 100, Timeout: time.Minute}}, []Route{{Sinks: []string{"s"}}},
		Options{Logger: debugLogger(&logs), QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(events()[0])
	rc.wait(t, 1) // the sender is stuck on the first
	start := time.Now()
	for i := range 10 {
		ev := events()[1]
		ev.Message = fmt.Sprintf("blocked %d", i)
		n.Notify(ev)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Notify blocked for %s", d)
	}
	if st := n.Stats(); st.Dropped != 8 {
		t.Errorf("dropped %d, want 8 (10 events, a queue of 2)", st.Dropped)
	}
	if !strings.Contains(logs.String(), "queue full") {
		t.Error("the drop was not logged")
	}
	if got := metricValue(t, n, "s", "dropped"); got != 8 {
		t.Errorf("k3sync_notifications_total{sink=s,outcome=dropped} = %v, want 8", got)
	}
	close(release)
	n.Close()
}

// metricValue is the Notifier's k3sync_notifications_total of a sink and
// outcome, gathered through a pedantic registry.
func metricValue(t *testing.T, n *Notifier, sink, outcome string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(n)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "k3sync_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["sink"] == sink && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no k3sync_notifications_total{sink=%q,outcome=%q}", sink, outcome)
	return 0
}

// TestRoutes: routes filter by event type, tenant and owner; an event of
// no tenant goes only to routes without a tenant or owner filter.
func TestRoutes(t *testing.T) {
	ev := Event{Type: SyncFailed, Tenant: "payments", Owners: []string{"team-payments", "sre"}}
	noTenant := Event{Type: RevisionInvalid}
	for _, tc := range []struct {
		route     Route
		ev        Event
		wantMatch bool
	}{
		{Route{}, ev, true},
		{Route{Events: []Type{"*"}}, ev, true},
		{Route{Events: []Type{SyncFailed}}, ev, true},
		{Route{Events: []Type{DriftDetected}}, ev, false},
		{Route{Owners: []string{"sre"}}, ev, true},
		{Route{Owners: []string{"team-data"}}, ev, false},
		{Route{Tenants: []string{"payments"}}, ev, true},
		{Route{Tenants: []string{"analytics"}, Owners: []string{"team-data"}}, ev, false},
		{Route{Events: []Type{DriftDetected}, Owners: []string{"sre"}}, ev, false},
		{Route{}, noTenant, true},
		{Route{Owners: []string{"sre"}}, noTenant, false},
	} {
		if got := tc.route.matches(tc.ev); got != tc.wantMatch {
			t.Errorf("%+v matches %+v: %v, want %v", tc.route, tc.ev, got, tc.wantMatch)
		}
	}
	if _, err := New(nil, []Route{{Sinks: []string{"nowhere"}}}, Options{}); err == nil {
		t.Error("a route to an unknown sink was accepted")
	}
}

// TestTypesMatchConfig: the event types a route may name in the
// configuration are this package's.
func TestTypesMatchConfig(t *testing.T) {
	var got []string
	for _, ty := range Types {
		got = append(got, string(ty))
	}
	if !slices.Equal(got, config.NotifyEvents) {
		t.Errorf("notify.Types %v, config.NotifyEvents %v", got, config.NotifyEvents)
	}
}

// TestFromConfig reads the secrets and routes of a configuration.
func TestFromConfig(t *testing.T) {
	rc := newReceiver(t, nil)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "hmac")
	if err := os.WriteFile(keyFile, []byte("file-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("K3SYNC_TEST_SLACK_URL", rc.srv.URL+"/services/T/B/TOKEN")
	c, err := config.Parse([]byte(`
notifications:
  instance: test
  sinks:
    - {name: audit, kind: webhook, url: "` + rc.srv.URL + `/audit", hmac: {secretFile: ` + keyFile + `}}
    - {name: chat, kind: slack, urlSecret: {secretEnv: K3SYNC_TEST_SLACK_URL}}
  routes:
    - {events: ["*"], sinks: [audit]}
    - {events: [sync.failed], sinks: [chat], owners: [team-payments]}
`))
	if err != nil {
		t.Fatal(err)
	}
	n, err := FromConfig(c.Notifications, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.Notify(events()[0]) // both
	n.Notify(events()[1]) // audit only
	rc.wait(t, 3)
	time.Sleep(50 * time.Millisecond)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bodies) != 3 {
		t.Errorf("%d requests, want 3", len(rc.bodies))
	}
	for i, b := range rc.bodies {
		if sig := rc.headers[i].Get(SignatureHeader); sig != "" && !Verify([]byte("file-key"), b, sig) {
			t.Error("the key from the file does not verify")
		}
	}
	if none, err := FromConfig(config.Notifications{}, nil); none != nil || err != nil {
		t.Errorf("no notifications configured: %v, %v", none, err)
	}
}
