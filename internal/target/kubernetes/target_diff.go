package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/k3sync/k3sync/internal/plan"
)

// lastApplied is what the inventory keeps per object.
type lastApplied struct {
	// Deletable: the definition allowed deleting the object once it
	// leaves Git (namespaces are protected unless it did).
	Deletable bool `json:"deletable,omitempty"`
	// Object is the object k3sync last applied.
	Object map[string]any `json:"object,omitempty"`
	// ResourceVersion is the live object's version right after k3sync
	// applied Object: while the live object still has it, nobody else
	// wrote it and applying Object again changes nothing.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// UID is the live object's: one with another UID was deleted and
	// made again by someone else, and is not k3sync's.
	UID types.UID `json:"uid,omitempty"`
}

func decodeLastApplied(raw json.RawMessage) lastApplied {
	var la lastApplied
	_ = json.Unmarshal(raw, &la) // an unreadable entry still means "owned"
	return la
}

// appliedHead is an inventory entry with its object left encoded: what a
// plan reads of every entry. Only the objects a plan diffs have their
// last applied object decoded (appliedHead.object): decoding 14,000 of
// them on every no-op poll was a quarter of its CPU.
type appliedHead struct {
	Deletable       bool            `json:"deletable,omitempty"`
	Object          json.RawMessage `json:"object,omitempty"`
	ResourceVersion string          `json:"resourceVersion,omitempty"`
	UID             types.UID       `json:"uid,omitempty"`
}

func decodeHead(raw json.RawMessage) appliedHead {
	var h appliedHead
	_ = json.Unmarshal(raw, &h) // an unreadable entry still means "owned"
	return h
}

// memoHead is a decoded inventory entry with the bytes it was decoded
// from.
type memoHead struct {
	raw  []byte
	head appliedHead
}

// headMemo decodes a plan's inventory entries, reusing what the target's
// previous plans decoded from the same bytes. It holds only the entries
// of the tenants its last plans covered, as they were: at most one
// decoded copy of the inventory.
type headMemo struct {
	prev, next map[string]map[string]memoHead
}

// newHeadMemo starts a plan's memo; a complete plan forgets the tenants
// it does not cover, a partial one keeps them.
func (t *Target) newHeadMemo(complete bool) *headMemo {
	t.headsMu.Lock()
	prev := t.heads
	t.headsMu.Unlock()
	m := &headMemo{prev: prev, next: map[string]map[string]memoHead{}}
	if !complete {
		for tenant, entries := range prev {
			m.next[tenant] = entries
		}
	}
	return m
}

// tenant returns the decoder of one tenant's entries; each tenant's
// entries are replaced by the ones this plan decodes.
func (m *headMemo) tenant(name string) func(id string, raw []byte) appliedHead {
	prev, next := m.prev[name], map[string]memoHead{}
	m.next[name] = next
	return func(id string, raw []byte) appliedHead {
		if e, ok := prev[id]; ok && bytes.Equal(e.raw, raw) {
			next[id] = e
			return e.head
		}
		h := decodeHead(raw)
		next[id] = memoHead{raw: bytes.Clone(raw), head: h}
		return h
	}
}

// saveHeads keeps what the plan decoded for the next plan.
func (t *Target) saveHeads(m *headMemo) {
	t.headsMu.Lock()
	t.heads = m.next
	t.headsMu.Unlock()
}

// object decodes the last applied object, as decodeLastApplied does.
func (h appliedHead) object() map[string]any {
	var m map[string]any
	if len(h.Object) > 0 {
		_ = json.Unmarshal(h.Object, &m)
	}
	return m
}

// sameObject is sameJSON(h.object(), desired) without decoding in the
// common case: the inventory holds the object as json.Marshal wrote it,
// so an unchanged desired object encodes to the very same bytes.
func (h appliedHead) sameObject(desired map[string]any) bool {
	if j, ok := appendJSON(make([]byte, 0, len(h.Object)), desired); ok && bytes.Equal(j, h.Object) {
		return true
	}
	if j, err := json.Marshal(desired); err == nil && bytes.Equal(j, h.Object) {
		return true
	}
	return sameJSON(h.object(), desired)
}

// appendJSON appends v encoded as json.Marshal would, for the values of
// a rendered object (maps, lists, plain strings, int64, bool, nil),
// without reflection; ok is false for anything else (floats, strings
// json.Marshal escapes), which json.Marshal then encodes.
func appendJSON(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, v), true
	case int64:
		return strconv.AppendInt(b, v, 10), true
	case string:
		return appendPlainString(b, v)
	case []any:
		if v == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendJSON(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case map[string]any:
		if v == nil {
			return append(b, "null"...), true
		}
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendPlainString(b, k); !ok {
				return b, false
			}
			b = append(b, ':')
			if b, ok = appendJSON(b, v[k]); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	}
	return b, false
}

// appendPlainString appends s quoted when json.Marshal would write it
// as is: printable ASCII without '"', '\', '<', '>' or '&'.
func appendPlainString(b []byte, s string) ([]byte, bool) {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return b, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// objectDiff is how applying desired would change live.
type objectDiff struct {
	// result is live after the apply.
	result *unstructured.Unstructured
	fields []plan.FieldChange
	drift  bool
	// conflicts are the other managers whose fields the apply takes over.
	conflicts []string
}

// diff computes the apply of desired onto live locally, as the apiserver
// would, and describes the difference. A nil result means no change.
func (ts *typeSchema) diff(desired, live *unstructured.Unstructured, last map[string]any) (*objectDiff, error) {
	fm, ok := ts.managers[desired.GroupVersionKind()]
	if !ok {
		return nil, fmt.Errorf("no field manager for %s", desired.GroupVersionKind())
	}
	result, err := fm.Apply(live.DeepCopy(), desired.DeepCopy(), FieldManager, true)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	res, ok := result.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("merge returned %T", result)
	}
	liveT, err := ts.converter.ObjectToTyped(withoutManagedFields(live))
	if err != nil {
		return nil, fmt.Errorf("live object: %w", err)
	}
	resT, err := ts.converter.ObjectToTyped(withoutManagedFields(res))
	if err != nil {
		return nil, fmt.Errorf("merged object: %w", err)
	}
	cmp, err := liveT.Compare(resT)
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if cmp.IsSame() {
		return nil, nil
	}
	owners, err := fieldOwners(live)
	if err != nil {
		return nil, err
	}
	d := &objectDiff{result: res}
	changed := cmp.Added.Leaves().Union(cmp.Modified).Union(cmp.Removed.Leaves())
	changed.Iterate(func(p fieldpath.Path) {
		before, hadBefore := getAt(live.Object, p)
		after, hasAfter := getAt(res.Object, p)
		f := plan.FieldChange{Path: formatPath(p)}
		if hadBefore {
			f.Before = before
		}
		if hasAfter {
			f.After = after
		}
		var others []string
		for _, o := range owners {
			if o.manager != FieldManager && o.set.Has(p) {
				others = append(others, o.manager)
			}
		}
		desiredVal, inDesired := getAt(desired.Object, p)
		if last != nil {
			lastVal, inLast := getAt(last, p)
			// Git did not change this field, yet live differs from it.
			f.Drift = inDesired == inLast && sameJSON(desiredVal, lastVal)
		} else {
			f.Drift = inDesired && len(others) > 0
		}
		if f.Drift && len(others) > 0 {
			f.Manager = strings.Join(others, ", ")
		}
		if inDesired && len(others) > 0 {
			d.conflicts = append(d.conflicts, others...)
		}
		d.drift = d.drift || f.Drift
		d.fields = append(d.fields, f)
	})
	slices.Sort(d.conflicts)
	d.conflicts = slices.Compact(d.conflicts)
	return d, nil
}

// sameJSON compares values as JSON: last applied values come back from
// JSON (numbers as float64) while desired ones are Go values.
func sameJSON(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

type ownership struct {
	manager string
	set     *fieldpath.Set
}

// fieldOwners decodes the managedFields of live.
func fieldOwners(live *unstructured.Unstructured) ([]ownership, error) {
	var out []ownership
	for _, e := range live.GetManagedFields() {
		if e.FieldsV1 == nil || e.Subresource != "" {
			continue
		}
		s := &fieldpath.Set{}
		if err := s.FromJSON(strings.NewReader(string(e.FieldsV1.Raw))); err != nil {
			return nil, fmt.Errorf("managedFields of %s: %w", e.Manager, err)
		}
		out = append(out, ownership{manager: e.Manager, set: s})
	}
	return out, nil
}

func withoutManagedFields(u *unstructured.Unstructured) *unstructured.Unstructured {
	c := u.DeepCopy()
	c.SetManagedFields(nil)
	return c
}

// getAt returns the value at p in an unstructured object.
func getAt(obj any, p fieldpath.Path) (any, bool) {
	cur := obj
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[*pe.FieldName]; !ok {
				return nil, false
			}
		case pe.Index != nil:
			l, ok := cur.([]any)
			if !ok || *pe.Index >= len(l) {
				return nil, false
			}
			cur = l[*pe.Index]
		case pe.Key != nil:
			l, ok := cur.([]any)
			if !ok {
				return nil, false
			}
			found := false
			for _, item := range l {
				m, ok := item.(map[string]any)
				if !ok {
					continue
				}
				match := true
				for _, f := range *pe.Key {
					if fmt.Sprint(m[f.Name]) != fmt.Sprint(f.Value.Unstructured()) {
						match = false
						break
					}
				}
				if match {
					cur, found = item, true
					break
				}
			}
			if !found {
				return nil, false
			}
		case pe.Value != nil:
			l, ok := cur.([]any)
			if !ok {
				return nil, false
			}
			want := fmt.Sprint((*pe.Value).Unstructured())
			found := false
			for _, item := range l {
				if fmt.Sprint(item) == want {
					cur, found = item, true
					break
				}
			}
			if !found {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return cur, true
}

// formatPath prints a field path for humans: spec.hard.cpu,
// subjects[name=devs], finalizers[=x], items[2].
func formatPath(p fieldpath.Path) string {
	var b strings.Builder
	for _, pe := range p {
		switch {
		case pe.FieldName != nil:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(*pe.FieldName)
		case pe.Key != nil:
			var kv []string
			for _, f := range *pe.Key {
				kv = append(kv, f.Name+"="+fmt.Sprint(f.Value.Unstructured()))
			}
			b.WriteString("[" + strings.Join(kv, ",") + "]")
		case pe.Value != nil:
			b.WriteString("[=" + fmt.Sprint((*pe.Value).Unstructured()) + "]")
		case pe.Index != nil:
			b.WriteString("[" + strconv.Itoa(*pe.Index) + "]")
		}
	}
	return b.String()
}
