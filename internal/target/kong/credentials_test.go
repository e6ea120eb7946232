package kong

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	gokong "github.com/kong/go-kong/kong"

	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// TestKeyAuth follows the example's key-auth consumers through create,
// no-op, rotation, out-of-band deletion and removal from Git, checking
// that keys reach the sink, work in Kong, and never show in a plan, a
// result or an error.
func TestKeyAuth(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	d := example(t)
	sink := newSink()
	tg := newTarget(t, url, state.NewMemory(), sink)
	var rendered []string // every plan, result and error rendered
	render := func(changes []plan.Change, results []plan.Result, err error) {
		p := plan.Plan{Changes: changes}
		for _, r := range results {
			p.Changes = append(p.Changes, r.Change)
		}
		var text, js strings.Builder
		if err := p.WriteText(&text, plan.TextOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := p.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		rj, _ := json.Marshal(results)
		rendered = append(rendered, text.String(), js.String(), string(rj), fmt.Sprint(err))
	}

	changes := mustPlan(t, tg, d.Request())
	render(changes, nil, nil)
	var creds []plan.Change
	for _, c := range changes {
		if c.Kind == KindCredential {
			creds = append(creds, c)
		}
	}
	want := []plan.Change{
		credentialCreate("payments-mobile"),
		credentialCreate("payments-partner-acme"),
	}
	if diff := cmp.Diff(want, creds); diff != "" {
		t.Fatalf("credential changes (-want +got):\n%s", diff)
	}
	results, err := tg.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
	render(nil, results, err)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}

	mobile, acme := sink.key("payments/payments-mobile"), sink.key("payments/payments-partner-acme")
	for _, k := range []string{mobile, acme} {
		if len(k) < 32 {
			t.Fatalf("delivered key %d characters long, want 32 or more", len(k))
		}
		assertKey(t, url, k, http.StatusOK)
	}
	if mobile == acme {
		t.Fatal("two consumers got the same key")
	}
	code, cred := admin(t, http.MethodGet, url+"/key-auths/"+mobile, nil)
	_, consumer := admin(t, http.MethodGet, url+"/consumers/payments-mobile", nil)
	if code != http.StatusOK || cred["consumer"].(map[string]any)["id"] != consumer["id"] {
		t.Fatalf("key of payments-mobile belongs to %v", cred["consumer"])
	}
	if diff := cmp.Diff([]any{"k3sync", "k3sync-tenant:payments"}, cred["tags"]); diff != "" {
		t.Errorf("credential tags (-want +got):\n%s", diff)
	}

	// A consumer whose credential exists is not re-keyed.
	changes = mustPlan(t, tg, d.Request())
	render(changes, nil, nil)
	if len(changes) != 0 || len(sink.all()) != 2 {
		t.Fatalf("re-plan: %d changes, %d keys delivered", len(changes), len(sink.all()))
	}

	// Rotation: a new key is delivered, the old one stops working.
	if err := tg.Rotate(t.Context(), "payments", "payments-mobile"); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	rotated := sink.key("payments/payments-mobile")
	if rotated == mobile || len(rotated) < 32 {
		t.Fatalf("rotate delivered no new key")
	}
	assertKey(t, url, mobile, http.StatusNotFound)
	assertKey(t, url, rotated, http.StatusOK)
	assertKey(t, url, acme, http.StatusOK)
	if n := emu.Count("key-auths"); n != 2 {
		t.Fatalf("%d key-auth credentials after rotation, want 2", n)
	}
	changes = mustPlan(t, tg, d.Request())
	render(changes, nil, nil)
	if len(changes) != 0 {
		t.Fatalf("plan after rotation:\n%s", planText(t, changes))
	}

	// A failed delivery keeps the old key and leaves no new credential.
	sink.setFail(errors.New("secret store down"))
	err = tg.Rotate(t.Context(), "payments", "payments-mobile")
	render(nil, nil, err)
	if err == nil {
		t.Fatal("rotate with a failing sink succeeded")
	}
	sink.setFail(nil)
	assertKey(t, url, rotated, http.StatusOK)
	if n := emu.Count("key-auths"); n != 2 {
		t.Fatalf("%d key-auth credentials after a failed rotation, want 2", n)
	}

	// Only the tenant's own consumers rotate.
	for _, c := range []struct{ tenant, consumer string }{
		{"checkout", "payments-mobile"},
		{"payments", "nobody"},
	} {
		if err := tg.Rotate(t.Context(), c.tenant, c.consumer); !errors.Is(err, ErrNotOwned) {
			t.Errorf("rotate %s/%s: %v, want ErrNotOwned", c.tenant, c.consumer, err)
		}
	}

	// Deleted out of band: recreated with a new key, as drift.
	id := credentialID(t, url, rotated)
	if code, _ := admin(t, http.MethodDelete, url+"/consumers/payments-mobile/key-auth/"+id, nil); code != http.StatusNoContent {
		t.Fatalf("delete credential: %d", code)
	}
	changes = mustPlan(t, tg, d.Request())
	render(changes, nil, nil)
	drifted := credentialCreate("payments-mobile")
	drifted.Drift = true
	drifted.Notes = append(drifted.Notes, "deleted out of band: k3sync created it before")
	if diff := cmp.Diff([]plan.Change{drifted}, changes); diff != "" {
		t.Fatalf("plan after out-of-band delete (-want +got):\n%s", diff)
	}
	results, err = tg.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
	render(nil, results, err)
	if err != nil {
		t.Fatal(err)
	}
	recreated := sink.key("payments/payments-mobile")
	assertKey(t, url, recreated, http.StatusOK)

	// keyAuth dropped from Git: the credential goes.
	k := d.kong(t, "payments")
	for i := range k.Consumers {
		if k.Consumers[i].Username == "payments-mobile" {
			k.Consumers[i].KeyAuth = false
		}
	}
	results, err = tg.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
	render(nil, results, err)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Key != key("payments", KindCredential, "payments-mobile/key-auth") || results[0].Action != plan.Delete {
		t.Fatalf("results: %+v", results)
	}
	assertKey(t, url, recreated, http.StatusNotFound)

	// No key was ever rendered.
	for _, k := range sink.all() {
		for _, r := range rendered {
			if strings.Contains(r, k) || strings.Contains(r, k[len(k)-8:]) {
				t.Fatalf("a key appears in rendered output:\n%s", strings.ReplaceAll(r, k, "<KEY>"))
			}
		}
	}
}

// TestKeyAuthWithoutSink: a consumer that needs a key fails to get one
// when there is no sink; the rest is applied.
func TestKeyAuthWithoutSink(t *testing.T) {
	emu, url := emulator(t, kongemu.Options{})
	tg := newTarget(t, url, state.NewMemory(), nil)
	results, err := tg.Apply(t.Context(), example(t).Request(), plan.ApplyOptions{})
	if !errors.Is(err, ErrNoSink) {
		t.Fatalf("apply: %v, want ErrNoSink", err)
	}
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			if r.Kind != KindCredential {
				t.Errorf("%s: %v", r.Key, r.Err)
			}
		}
	}
	if failed != 2 || emu.Count("key-auths") != 0 || emu.Count("consumers") != 2 {
		t.Errorf("%d failed, %d key-auths, %d consumers", failed, emu.Count("key-auths"), emu.Count("consumers"))
	}
}

func TestRedact(t *testing.T) {
	const secret = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs"
	api := gokong.NewAPIError(http.StatusConflict, `UNIQUE violation detected on '{key="`+secret+`"}'`)
	err := fmt.Errorf("kong credential x/key-auth: %w", redact(fmt.Errorf("create: %w", api), secret))
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("redacted error shows the key: %v", err)
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), secret) {
			t.Fatalf("an unwrapped error shows the key: %v", e)
		}
	}
	var re *RedactedError
	if !errors.As(err, &re) || re.Status != http.StatusConflict {
		t.Fatalf("status not kept: %v", err)
	}
	if !strings.Contains(err.Error(), plan.Redacted) {
		t.Errorf("no redaction marker: %v", err)
	}
}

func credentialCreate(consumer string) plan.Change {
	return plan.Change{
		Key: key("payments", KindCredential, consumer+"/key-auth"), Action: plan.Create, Level: levels[KindCredential],
		Fields: []plan.FieldChange{{Path: "key", After: "generated", Sensitive: true}},
		Notes:  []string{"k3sync generates the key and delivers it to the tenant's credential sink"},
	}
}

// assertKey checks how the Admin API answers for a key-auth key.
func assertKey(t *testing.T, url, key string, want int) {
	t.Helper()
	if code, _ := admin(t, http.MethodGet, url+"/key-auths/"+key, nil); code != want {
		t.Fatalf("GET key-auth by key: %d, want %d", code, want)
	}
}

// credentialID is the ID of the credential of a key.
func credentialID(t *testing.T, url, key string) string {
	t.Helper()
	_, out := admin(t, http.MethodGet, url+"/key-auths/"+key, nil)
	id, _ := out["id"].(string)
	if id == "" {
		t.Fatal("credential not found")
	}
	return id
}
