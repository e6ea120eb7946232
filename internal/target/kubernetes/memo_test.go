package kubernetes

import (
	"encoding/json"
	"testing"
)

// TestHeadMemoNeverStale: the daemon's plans reuse decoded inventory
// entries, and must see every change of an entry, even one written into
// the same buffer, and forget the tenants a complete plan no longer
// covers.
func TestHeadMemoNeverStale(t *testing.T) {
	tg := &Target{}
	raw := []byte(`{"resourceVersion":"101","uid":"u-1","object":{"kind":"Namespace"}}`)

	m := tg.newHeadMemo(true)
	if h := m.tenant("payments")("Namespace//payments", raw); h.ResourceVersion != "101" || h.UID != "u-1" {
		t.Fatalf("first decode: %+v", h)
	}
	tg.saveHeads(m)

	// The same bytes again: the same entry.
	m = tg.newHeadMemo(true)
	if h := m.tenant("payments")("Namespace//payments", raw); h.ResourceVersion != "101" || string(h.Object) != `{"kind":"Namespace"}` {
		t.Fatalf("unchanged entry: %+v", h)
	}
	tg.saveHeads(m)

	// Rewritten in place (a store reusing its buffer): decoded again.
	copy(raw, `{"resourceVersion":"202"`)
	m = tg.newHeadMemo(true)
	if h := m.tenant("payments")("Namespace//payments", raw); h.ResourceVersion != "202" {
		t.Fatalf("entry rewritten in place: got resourceVersion %q, want 202", h.ResourceVersion)
	}
	tg.saveHeads(m)

	// A partial plan of another tenant keeps payments; a complete plan
	// without payments forgets it.
	m = tg.newHeadMemo(false)
	m.tenant("checkout")("Namespace//checkout", []byte(`{"resourceVersion":"7"}`))
	tg.saveHeads(m)
	if _, ok := tg.heads["payments"]; !ok {
		t.Error("a partial plan of checkout forgot payments' entries")
	}
	m = tg.newHeadMemo(true)
	m.tenant("checkout")("Namespace//checkout", []byte(`{"resourceVersion":"7"}`))
	tg.saveHeads(m)
	if _, ok := tg.heads["payments"]; ok {
		t.Error("a complete plan without payments kept its entries")
	}
}

// TestAppendJSONIsMarshal: the no-op check compares the inventory's bytes
// with the desired object encoded by appendJSON; where it encodes at all
// it must write what json.Marshal writes, or an edited object could pass
// for unchanged.
func TestAppendJSONIsMarshal(t *testing.T) {
	values := []any{
		nil, true, false, int64(0), int64(-42), int64(9007199254740993), "", "plain-text_1.2/x",
		[]any(nil), []any{}, map[string]any(nil), map[string]any{},
		map[string]any{"b": int64(1), "a": []any{"x", map[string]any{"z": nil, "y": false}}, "c": map[string]any{}},
		// Encoded by json.Marshal instead (ok false), never differently.
		"a<b", "quote\"d", "back\\slash", "tab\t", "é", 1.5, float64(3), int(7), []string{"x"},
		map[string]any{"k": "a&b"}, map[string]any{"k<": "v"}, []any{int64(1), 2.5},
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := appendJSON(nil, v); ok && string(got) != string(want) {
			t.Errorf("%#v: appendJSON wrote %s, json.Marshal %s", v, got, want)
		}
	}
	// The common case is encoded without falling back.
	obj := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "payments", "labels": map[string]any{"k3sync.io/tenant": "payments"}}}
	if _, ok := appendJSON(nil, obj); !ok {
		t.Error("a plain rendered object fell back to json.Marshal")
	}
}
