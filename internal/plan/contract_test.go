package plan

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/k3sync/k3sync/internal/model"
)

func TestScope(t *testing.T) {
	req := Request{Tenants: []TenantRequest{
		{Model: &model.Tenant{Name: "b"}}, RemovedTenant("gone"), {Model: &model.Tenant{Name: "a"}},
	}}
	names := func(ss []Scoped) (out []string) {
		for _, s := range ss {
			out = append(out, s.Name)
			if s.Removed() {
				out[len(out)-1] += "(removed)"
			}
		}
		return out
	}
	owned := []string{"a", "old", "gone"}
	if got, want := names(req.Scope(owned)), []string{"a", "b", "gone(removed)"}; !slices.Equal(got, want) {
		t.Errorf("narrowed request: scope %v, want %v (an owner the request does not name is not in it)", got, want)
	}
	req.Complete = true
	if got, want := names(req.Scope(owned)), []string{"a", "b", "gone(removed)", "old(removed)"}; !slices.Equal(got, want) {
		t.Errorf("complete request: scope %v, want %v", got, want)
	}
}

func TestCapDeletes(t *testing.T) {
	platform := &model.Platform{}
	platform.Policy.Deletion.MaxDeletesPerPlan = 2
	mk := func(actions ...Action) []*Change {
		var out []*Change
		for i, a := range actions {
			out = append(out, &Change{Key: Key{Name: string(rune('a' + i))}, Action: a})
		}
		return out
	}
	req := Request{Platform: platform}
	if cs := mk(Delete, Delete, Create); req.CapDeletes("cluster east", cs) || cs[0].Action != Delete {
		t.Errorf("2 deletes at a limit of 2 were blocked")
	}
	cs := mk(Delete, Delete, Delete, Update)
	if !req.CapDeletes("cluster east", cs) {
		t.Fatal("3 deletes at a limit of 2: not capped")
	}
	for _, c := range cs[:3] {
		if c.Action != Blocked || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "3 deletes on cluster east exceed the platform's limit of 2") {
			t.Errorf("capped delete: %s %v", c.Action, c.Notes)
		}
	}
	if cs[3].Action != Update {
		t.Errorf("the cap touched an update: %s", cs[3].Action)
	}
	req.AllowMassDeletion = true
	if cs := mk(Delete, Delete, Delete); req.CapDeletes("cluster east", cs) || cs[0].Action != Delete {
		t.Errorf("mass deletion allowed, but capped")
	}
}

func TestStale(t *testing.T) {
	key := func(tenant, name string) Key {
		return Key{Tenant: tenant, System: Kafka, Target: "main", Kind: "topic", Name: name}
	}
	checked := &Plan{Changes: []Change{
		{Key: key("a", "t1"), Action: Update, Fields: []FieldChange{{Path: "config.retention.ms", Before: "1", After: 2}}},
		{Key: key("a", "t2"), Action: Blocked},
		{Key: key("b", "t3"), Action: Delete},
	}}
	req := Request{Checked: checked}
	same := []Change{{Key: key("a", "t1"), Action: Update, Fields: []FieldChange{{Path: "config.retention.ms", Before: "1", After: 2}}, Notes: []string{"notes are not compared"}}}
	if err := req.Stale("a", Kafka, "main", same); err != nil {
		t.Errorf("the checked changes: %v", err)
	}
	for name, fresh := range map[string][]Change{
		"a field moved":       {{Key: key("a", "t1"), Action: Update, Fields: []FieldChange{{Path: "config.retention.ms", Before: "5", After: 2}}}},
		"a new delete":        append(slices.Clone(same), Change{Key: key("a", "t9"), Action: Delete}),
		"a change gone":       nil,
		"blocked now written": append(slices.Clone(same), Change{Key: key("a", "t2"), Action: Delete}),
	} {
		if err := req.Stale("a", Kafka, "main", fresh); !errors.Is(err, ErrStale) {
			t.Errorf("%s: Stale = %v, want ErrStale", name, err)
		}
	}
	if err := req.Stale("b", Kafka, "other", nil); err != nil {
		t.Errorf("nothing checked, nothing planned on another target: %v", err)
	}
	if err := req.Stale("b", Kafka, "other", []Change{{Key: Key{Tenant: "b", System: Kafka, Target: "other", Kind: "topic", Name: "x"}, Action: Create}}); !errors.Is(err, ErrStale) {
		t.Errorf("a change on a target the checked plan has nothing for: %v", err)
	}
	if err := (Request{}).Stale("a", Kafka, "main", []Change{{Key: key("a", "x"), Action: Delete}}); err != nil {
		t.Errorf("no checked plan: %v", err)
	}
	// One checker serves every tenant of a target's apply.
	sc := req.StaleChecker(Kafka, "main")
	if err := sc.Stale("a", same); err != nil {
		t.Errorf("checker, tenant a's checked changes: %v", err)
	}
	if err := sc.Stale("b", []Change{{Key: key("b", "t3"), Action: Delete}}); err != nil {
		t.Errorf("checker, tenant b's checked changes: %v", err)
	}
	if err := sc.Stale("b", nil); !errors.Is(err, ErrStale) {
		t.Errorf("checker, tenant b's delete no longer planned: %v, want ErrStale", err)
	}
}

// TestAdopt: a target's changes that are the checked ones take the
// checked plan's fields, so that an apply holds one plan's; stale ones
// keep their own.
func TestAdopt(t *testing.T) {
	key := func(name string) Key {
		return Key{Tenant: "a", System: Kafka, Target: "main", Kind: "topic", Name: name}
	}
	fields := func() []FieldChange { return []FieldChange{{Path: "configs.retention.ms", Before: "1", After: 2}} }
	checked := &Plan{Changes: []Change{
		{Key: key("t2"), Action: Update, Fields: fields()},
		{Key: key("t1"), Action: Create, Fields: fields()},
	}}
	sc := Request{Checked: checked}.StaleChecker(Kafka, "main")
	fresh := []Change{
		{Key: key("t1"), Action: Create, Fields: fields()},
		{Key: key("t2"), Action: Update, Fields: fields()},
		{Key: key("t3"), Action: Blocked, Fields: fields()},
	}
	if err := sc.Adopt("a", []*Change{&fresh[0], &fresh[1], &fresh[2]}); err != nil {
		t.Fatalf("the checked changes: %v", err)
	}
	for i, j := range []int{1, 0} {
		if &fresh[i].Fields[0] != &checked.Changes[j].Fields[0] {
			t.Errorf("%s holds fields of its own, want the checked plan's", fresh[i].Name)
		}
	}
	if &fresh[2].Fields[0] == &checked.Changes[0].Fields[0] || &fresh[2].Fields[0] == &checked.Changes[1].Fields[0] {
		t.Errorf("a blocked change took a checked change's fields")
	}
	moved := []Change{
		{Key: key("t1"), Action: Create, Fields: fields()},
		{Key: key("t2"), Action: Update, Fields: []FieldChange{{Path: "configs.retention.ms", Before: "5", After: 2}}},
	}
	if err := sc.Adopt("a", []*Change{&moved[0], &moved[1]}); !errors.Is(err, ErrStale) {
		t.Fatalf("a field moved: Adopt = %v, want ErrStale", err)
	}
	if &moved[0].Fields[0] == &checked.Changes[1].Fields[0] {
		t.Errorf("a stale tenant's change took the checked plan's fields")
	}
}

func TestFinish(t *testing.T) {
	boom := errors.New("boom")
	results, err := Finish("kafka main", []Result{
		{Change: Change{Key: Key{Name: "ok"}, Action: Create}},
		{Change: Change{Key: Key{Name: "no"}, Action: Blocked}},
		{Change: Change{Key: Key{Name: "bad"}, Action: Update}, Err: boom},
	})
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.Total != 2 || len(ae.Failed) != 1 || !errors.Is(err, boom) {
		t.Fatalf("Finish error = %v, want an ApplyError of 1 failure in 2", err)
	}
	if !errors.Is(results[1].Err, ErrBlocked) || results[1].Error == "" || errors.Is(err, ErrBlocked) {
		t.Errorf("blocked result: %v (error %q); the apply error must not hold it", results[1].Err, results[1].Error)
	}
	if _, err := Finish("kafka main", []Result{{Change: Change{Action: Blocked}}}); err != nil {
		t.Errorf("only blocked changes: %v", err)
	}
}
