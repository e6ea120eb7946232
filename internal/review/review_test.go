package review

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/forge"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

func repoOf(names ...string) *model.Repo {
	r := &model.Repo{}
	for _, n := range names {
		r.Tenants = append(r.Tenants, &model.Tenant{Name: n})
	}
	return r
}

func TestScope(t *testing.T) {
	base := repoOf("analytics", "checkout", "payments", "search")
	head := repoOf("checkout", "payments", "search")
	for _, tc := range []struct {
		name  string
		files []string
		// base is the tracked branch's repo; nil when it is invalid.
		base *model.Repo
		want Scope
	}{
		{"one tenant", []string{"tenants/payments/tenant.cue", "tenants/payments/kafka.cue"}, base, Scope{Tenants: []string{"payments"}}},
		{"two tenants", []string{"tenants/search/a.cue", "tenants/checkout/b.cue"}, base, Scope{Tenants: []string{"checkout", "search"}}},
		{"a README of a tenant", []string{"tenants/payments/README.md"}, base, Scope{Tenants: []string{"payments"}}},
		{"platform", []string{"platform.cue", "tenants/search/a.cue"}, base, Scope{All: true, Tenants: []string{"checkout", "payments", "search"}}},
		{"deleted tenant of the tracked branch", []string{"tenants/analytics/tenant.cue", "tenants/search/a.cue"}, base, Scope{Tenants: []string{"search"}, Deleted: []string{"analytics"}}},
		{"deleted tenant's README only", []string{"tenants/analytics/README.md"}, base, Scope{Deleted: []string{"analytics"}}},
		{"new folders with a README only", []string{"tenants/new/README.md", "tenants/other/README.md", "tenants/other/sub/x.cue"}, base, Scope{}},
		{"files the loader does not read", []string{"README.md", "docs/x.md", "tenants/README.md"}, base, Scope{}},
		{"invalid tracked branch: a .cue file of a deleted folder", []string{"tenants/analytics/tenant.cue", "tenants/search/a.cue"}, nil, Scope{Tenants: []string{"search"}, Deleted: []string{"analytics"}}},
		{"invalid tracked branch: a folder without .cue file", []string{"tenants/new/README.md", "tenants/new/sub/x.cue", "tenants/new/.hidden.cue", "tenants/.git/x.cue"}, nil, Scope{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scopeOf(tc.files, tc.base, head)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(Scope{})); diff != "" {
				t.Errorf("scope (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCommentListsAreCut: lists of names show the first few and count the
// others, and the comment stays within its limit whatever it names: its
// head (scope, ownership) included.
func TestCommentListsAreCut(t *testing.T) {
	var names []string
	for i := range 400 {
		names = append(names, fmt.Sprintf("%03d-%s", i, strings.Repeat("a", 200)))
	}
	key := plan.Key{Tenant: names[0], System: plan.Kafka, Target: "main", Kind: "topic", Name: "x"}
	r := &Review{Head: "0123456789abcdef", Branch: "main", Base: "bbbb",
		Scope:      Scope{Tenants: names, Deleted: names},
		Plan:       &plan.Plan{Changes: []plan.Change{{Key: key, Action: plan.Create}}},
		Violations: []Violation{{Key: key, Action: plan.Create, Owner: "checkout"}},
	}
	got := r.Markdown(CommentOptions{MaxLength: forge.GitHubMaxComment})
	if len(got) > forge.GitHubMaxComment {
		t.Fatalf("comment is %d bytes, over %d", len(got), forge.GitHubMaxComment)
	}
	for _, want := range []string{
		"Tenants changed: `000-" + strings.Repeat("a", 200) + "`, ",
		"`009-" + strings.Repeat("a", 200) + "` and 390 more; removed: `000-",
		"/` and 790 more only, but its plan changes resources of other tenants",
		"+ create topic x",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("comment lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "010-") {
		t.Error("the comment names an 11th folder")
	}

	// Names so long that even the head does not fit: a short comment,
	// still k3sync's.
	r.Scope = Scope{Tenants: []string{strings.Repeat("x", 70000)}}
	for _, limit := range []int{forge.GitHubMaxComment, 300, 60, 25, 5} {
		got := r.Markdown(CommentOptions{MaxLength: limit, DashboardURL: "https://k3sync.example"})
		if len(got) > max(limit, len(Marker)+1) || !strings.HasPrefix(got, Marker+"\n") {
			t.Errorf("limit %d: %d bytes: %q", limit, len(got), got[:min(len(got), 200)])
		}
		if limit == forge.GitHubMaxComment && !strings.Contains(got, "does not fit in a comment") {
			t.Errorf("limit %d: the comment does not say it was cut:\n%s", limit, got)
		}
	}
	// An error message too long for any comment.
	r = &Review{Head: "0123456789abcdef", Err: errors.New(strings.Repeat("e", 70000))}
	if got := r.Markdown(CommentOptions{MaxLength: forge.GitHubMaxComment}); len(got) > forge.GitHubMaxComment || !strings.Contains(got, "k3sync could not read the head") {
		t.Errorf("%d bytes:\n%s", len(got), got[:min(len(got), 500)])
	}
}

func TestRequest(t *testing.T) {
	head := repoOf("checkout", "payments", "search")
	if req := request(head, Scope{Tenants: []string{"payments"}}, "h"); req.Complete || len(req.Tenants) != 1 || req.Revision != "h" {
		t.Errorf("one tenant: complete %v, %d tenants", req.Complete, len(req.Tenants))
	}
	if req := request(head, Scope{Tenants: []string{"search"}, Deleted: []string{"analytics"}}, "h"); !req.Complete || len(req.Tenants) != 3 {
		t.Errorf("deleted folder: complete %v, %d tenants; want every tenant, complete", req.Complete, len(req.Tenants))
	}
}

func change(tenant string, sys plan.System, target, kind, ns, name string, a plan.Action) plan.Change {
	return plan.Change{Key: plan.Key{Tenant: tenant, System: sys, Target: target, Kind: kind, Namespace: ns, Name: name}, Action: a}
}

func TestOwnership(t *testing.T) {
	scope := Scope{Tenants: []string{"payments-batch"}}
	p := &plan.Plan{Changes: []plan.Change{
		// payments-batch creates namespace payments-batch, which payments
		// still holds live (its delete is pending).
		change("payments-batch", plan.Kubernetes, "eu-west", "Namespace", "", "payments-batch", plan.Create),
		change("payments-batch", plan.Kubernetes, "eu-west", "ResourceQuota", "payments-batch", "tenant-quota", plan.Create),
		// Same name on another cluster: payments holds nothing there.
		change("payments-batch", plan.Kubernetes, "us-east", "Namespace", "", "payments-batch", plan.Create),
		// Kafka treats '.' and '_' alike.
		change("payments-batch", plan.Kafka, "main", "topic", "", "payments_old", plan.Create),
		change("payments-batch", plan.Kafka, "main", "acl", "", "User:payments.old allow read topic literal:x from *", plan.Create),
		change("payments-batch", plan.Kong, "edge", "route", "", "payments-old", plan.Update),
		change("payments-batch", plan.Kong, "edge", "plugin", "", "payments-old/rate-limiting", plan.Update),
		// A change planned for a tenant the pull request does not change.
		change("search", plan.Kubernetes, "eu-west", "Namespace", "", "search", plan.Update),
	}}
	pending := &plan.Plan{Changes: []plan.Change{
		change("payments", plan.Kubernetes, "eu-west", "Namespace", "", "payments-batch", plan.Delete),
		change("payments", plan.Kubernetes, "eu-west", "RoleBinding", "payments-batch", "k3sync:edit:devs", plan.Delete),
		change("payments", plan.Kafka, "main", "topic", "", "payments.old", plan.Delete),
		change("payments", plan.Kafka, "main", "user", "", "payments.old", plan.Delete),
		change("payments", plan.Kong, "edge", "route", "", "payments-old", plan.Delete),
		// Pending changes of the pull request's own tenants are its own.
		change("payments-batch", plan.Kong, "edge", "route", "", "payments-old", plan.Delete),
	}}
	calls := 0
	var got, names []string
	for _, v := range checkOwnership(p, scope, func(n []string) *plan.Plan { calls++; names = n; return pending }) {
		s := fmt.Sprintf("%s %s owner=%s", v.Key, v.Action, v.Owner)
		if v.Pending != nil {
			s += " pending=" + plan.Headline(*v.Pending)
		}
		got = append(got, s)
	}
	want := []string{
		"kubernetes/eu-west/Namespace/search update owner=search",
		"kubernetes/eu-west/Namespace/payments-batch create owner=payments pending=- delete Namespace payments-batch",
		"kubernetes/eu-west/ResourceQuota/payments-batch/tenant-quota create owner=payments pending=- delete Namespace payments-batch",
		"kafka/main/topic/payments_old create owner=payments pending=- delete topic payments.old",
		"kafka/main/acl/User:payments.old allow read topic literal:x from * create owner=payments pending=- delete user payments.old",
		"kong/edge/route/payments-old update owner=payments pending=- delete route payments-old",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
	if calls != 1 {
		t.Errorf("pending planned %d times", calls)
	}
	// The names the pull request's own changes touch, as they spell them:
	// who holds one of these is planned on the tracked branch.
	if diff := cmp.Diff([]string{"payments-batch", "payments-old", "payments.old", "payments_old"}, names); diff != "" {
		t.Errorf("names asked of the tracked branch (-want +got):\n%s", diff)
	}
	// When the pull request changes both folders, moving is fine.
	if v := checkOwnership(p, Scope{Tenants: []string{"payments", "payments-batch", "search"}}, func([]string) *plan.Plan { return pending }); len(v) != 0 {
		t.Errorf("a move across two changed folders: %v", v)
	}
	// A plan that changes no name needs no pending plan.
	checkOwnership(&plan.Plan{}, scope, func([]string) *plan.Plan { t.Error("pending planned for nothing"); return nil })
}

func TestStatus(t *testing.T) {
	ok := &plan.Plan{Changes: []plan.Change{change("payments", plan.Kafka, "main", "topic", "", "payments.refunds", plan.Create)}}
	blocked := &plan.Plan{Changes: []plan.Change{change("checkout", plan.Kafka, "main", "topic", "", "checkout.orders", plan.Blocked)}}
	unreachable := &plan.Plan{Errors: []plan.TargetError{{System: plan.Kafka, Target: "main", Message: "dial tcp: connection refused"}}}
	pr := forge.PullRequest{Number: 3, URL: "https://git.example/o/r/pulls/3"}
	for _, tc := range []struct {
		name string
		r    Review
		dash string
		want forge.Status
	}{
		{"success", Review{PR: pr, Scope: Scope{Tenants: []string{"payments"}}, Plan: ok}, "https://k3sync.example/",
			forge.Status{Context: "k3sync/plan", State: forge.Success, Description: "1 change: 1 to create, 0 to update, 0 to delete, 0 to orphan, 0 blocked", TargetURL: "https://k3sync.example/tenants/payments"}},
		{"no changes", Review{PR: pr, Scope: Scope{Tenants: []string{"a", "b"}}, Plan: &plan.Plan{}}, "https://k3sync.example",
			forge.Status{Context: "k3sync/plan", State: forge.Success, Description: "No changes: live state matches", TargetURL: "https://k3sync.example/"}},
		{"no tenant", Review{PR: pr}, "",
			forge.Status{Context: "k3sync/plan", State: forge.Success, Description: "No tenant changes: nothing to plan", TargetURL: pr.URL}},
		{"blocked", Review{PR: pr, Scope: Scope{Tenants: []string{"checkout"}}, Plan: blocked}, "",
			forge.Status{Context: "k3sync/plan", State: forge.Failure, Description: "1 change blocked: 1 change: 0 to create, 0 to update, 0 to delete, 0 to orphan, 1 blocked", TargetURL: pr.URL}},
		{"unreachable", Review{PR: pr, Scope: Scope{Tenants: []string{"payments"}}, Plan: unreachable}, "",
			forge.Status{Context: "k3sync/plan", State: forge.Error, Description: "k3sync could not plan kafka/main: dial tcp: connection refused", TargetURL: pr.URL}},
		{"invalid", Review{PR: pr, Invalid: diag.List{{File: "tenants/search/tenant.cue", Line: 3, Column: 9, Path: "owners", Message: "invalid value [] (does not satisfy list.MinItems(1))"}}}, "",
			forge.Status{Context: "k3sync/plan", State: forge.Failure, Description: "Invalid (1 error): tenants/search/tenant.cue:3:9: owners: invalid value [] (does not satisfy list.MinItems(1))", TargetURL: pr.URL}},
		{"ownership", Review{PR: pr, Scope: Scope{Tenants: []string{"payments"}}, Plan: ok, Violations: []Violation{{Key: ok.Changes[0].Key, Owner: "checkout"}}}, "",
			forge.Status{Context: "k3sync/plan", State: forge.Failure, Description: "Ownership: 1 change to other tenants' resources (topic payments.refunds of tenant checkout)", TargetURL: pr.URL}},
		{"observe only", Review{PR: pr, Scope: Scope{Tenants: []string{"payments"}}, Plan: ok, Observed: []string{"payments"}}, "",
			forge.Status{Context: "k3sync/plan", State: forge.Success, Description: "Observe only (payments, never applied): 1 change: 1 to create, 0 to update, 0 to delete, 0 to orphan, 0 blocked", TargetURL: pr.URL}},
		{"unreadable", Review{PR: pr, Err: errors.New("git source: commit abc: unknown revision")}, "",
			forge.Status{Context: "k3sync/plan", State: forge.Error, Description: "k3sync could not read the head: git source: commit abc: unknown revision", TargetURL: pr.URL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.r.Status(tc.dash)); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvalidComment(t *testing.T) {
	r := &Review{Head: "0123456789abcdef", Base: "bbbb", Changed: map[string]bool{"tenants/search/tenant.cue": true}, Invalid: diag.List{
		{File: "tenants/search/tenant.cue", Line: 3, Column: 9, Path: "owners", Message: "invalid value [] (does not satisfy list.MinItems(1))"},
		{File: "tenants/search/tenant.cue", Line: 5, Column: 2, Path: `kafka.topics."a*b"`, Message: "name <a*b> has `markup` and | pipes"},
		{File: "platform.cue", Message: "missing: a platform repo needs platform.cue at its root"},
	}}
	link := func(sha, path string, line int) string {
		return fmt.Sprintf("https://git.example/o/r/src/commit/%s/%s#L%d", sha, path, line)
	}
	got := r.Markdown(CommentOptions{MaxLength: 65535, FileURL: link})
	for _, want := range []string{
		Marker + "\n## ❌ k3sync: `0123456789ab` does not validate\n\n3 errors; nothing was planned.",
		"- [`tenants/search/tenant.cue:3:9`](https://git.example/o/r/src/commit/0123456789abcdef/tenants/search/tenant.cue#L3): `owners`: `invalid value [] (does not satisfy list.MinItems(1))`\n",
		// The message quotes tenant input: a code span one backtick longer
		// than the backticks in it.
		"- [`tenants/search/tenant.cue:5:2`](https://git.example/o/r/src/commit/0123456789abcdef/tenants/search/tenant.cue#L5): `kafka.topics.\"a*b\"`: ``name <a*b> has `markup` and | pipes``\n",
		"- [`platform.cue`](https://git.example/o/r/src/commit/bbbb/platform.cue#L0): `missing: a platform repo needs platform.cue at its root`\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("comment lacks %q:\n%s", want, got)
		}
	}
	// A thousand errors: cut to fit, and said so.
	var many diag.List
	for i := range 1000 {
		many = append(many, diag.Error{File: "tenants/x/tenant.cue", Line: i + 1, Column: 1, Path: "p", Message: strings.Repeat("m", 80)})
	}
	r.Invalid = many
	got = r.Markdown(CommentOptions{MaxLength: 20000, FileURL: link})
	if len(got) > 20000 || !strings.Contains(got, "more errors: run `k3sync validate`") {
		t.Errorf("%d bytes; tail %q", len(got), got[max(0, len(got)-200):])
	}
}

func TestShortPlanCountsWhatDoesNotFit(t *testing.T) {
	p := bigPlan(plan.Request{Revision: "abc"}, 3000)
	r := &Review{Head: "abc", Branch: "main", Base: "abc", Scope: Scope{Tenants: []string{"payments"}}, Plan: p}
	got := r.Markdown(CommentOptions{MaxLength: forge.GitHubMaxComment, DashboardURL: "https://k3sync.example"})
	if len(got) > forge.GitHubMaxComment {
		t.Fatalf("%d bytes", len(got))
	}
	if !strings.Contains(got, "more changes, not listed: see the dashboard") || !strings.Contains(got, "\n"+plan.Headline(p.Changes[0])+"\n") {
		t.Errorf("tail: %q", got[len(got)-300:])
	}
	if strings.Count(got, "```diff\n") != strings.Count(got, "```\n") {
		t.Error("unbalanced code blocks")
	}
}

func TestAppliedStatus(t *testing.T) {
	synced := state.Run{Tenant: "payments", Result: state.ResultSynced, Changes: []plan.Result{{}, {}}}
	failed := state.Run{Tenant: "checkout", Result: state.ResultFailed, Changes: []plan.Result{
		{Change: change("checkout", plan.Kafka, "main", "topic", "", "checkout.orders", plan.Update)},
		{Change: change("checkout", plan.Kafka, "main", "topic", "", "checkout.carts", plan.Update), Error: "policy violation"},
	}}
	blocked := state.Run{Tenant: "analytics", Result: state.ResultBlocked, Message: "tenant is suspended: changes are planned, not applied"}
	for _, tc := range []struct {
		name string
		runs []state.Run
		want forge.Status
	}{
		{"nothing", nil, forge.Status{Context: "k3sync/apply", State: forge.Success, Description: "Applied: nothing needed a change", TargetURL: "https://k3sync.example/"}},
		{"synced", []state.Run{synced}, forge.Status{Context: "k3sync/apply", State: forge.Success, Description: "Applied: 1 tenant, 2 changes", TargetURL: "https://k3sync.example/"}},
		{"failed", []state.Run{synced, failed, blocked}, forge.Status{Context: "k3sync/apply", State: forge.Failure, Description: "1 tenant of 3 failed: checkout: topic checkout.carts: policy violation", TargetURL: "https://k3sync.example/tenants/checkout"}},
		{"blocked", []state.Run{synced, blocked}, forge.Status{Context: "k3sync/apply", State: forge.Pending, Description: "1 tenant not applied yet: analytics: tenant is suspended: changes are planned, not applied", TargetURL: "https://k3sync.example/tenants/analytics"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, AppliedStatus(tc.runs, "https://k3sync.example")); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeepTenants(t *testing.T) {
	p := &plan.Plan{
		Changes: []plan.Change{
			change("analytics", plan.Kafka, "main", "topic", "", "analytics.sessions", plan.Create),
			change("old", plan.Kafka, "main", "topic", "", "old.events", plan.Delete),
			change("search", plan.Kubernetes, "eu-west", "Namespace", "", "search", plan.Update),
		},
		Errors: []plan.TargetError{{System: plan.Kong, Target: "edge", Message: "unreachable"}},
	}
	got, n := keepTenants(p, Scope{Tenants: []string{"search"}, Deleted: []string{"old"}})
	if n != 1 || len(got.Changes) != 2 || got.Changes[0].Tenant != "old" || got.Changes[1].Tenant != "search" || len(got.Errors) != 1 {
		t.Errorf("kept %+v, left out %d", got, n)
	}
	r := &Review{Scope: Scope{Tenants: []string{"search"}, Deleted: []string{"old"}}, Plan: got, Unrelated: n}
	if md := r.Markdown(CommentOptions{}); !strings.Contains(md, "removed: `old`") || !strings.Contains(md, "1 pending change of tenants this pull request does not change") {
		t.Errorf("comment:\n%s", md)
	}
}

func TestCommentRedactsSecrets(t *testing.T) {
	c := change("payments", plan.Kafka, "main", "user", "", "payments.api", plan.Update)
	c.Fields = []plan.FieldChange{{Path: "password", Before: "old-s3cret", After: "new-s3cret", Sensitive: true}}
	c.Drift = true
	r := &Review{Scope: Scope{Tenants: []string{"payments"}}, Plan: &plan.Plan{Changes: []plan.Change{c}}}
	for _, max := range []int{65535, 1200} { // full, then shortened
		md := r.Markdown(CommentOptions{MaxLength: max})
		if strings.Contains(md, "s3cret") || !strings.Contains(md, "~ update user payments.api (drift)") {
			t.Errorf("max %d:\n%s", max, md)
		}
		if !strings.Contains(md, "1 change marked (drift) undo edits made outside Git") {
			t.Errorf("max %d: drift is not noted:\n%s", max, md)
		}
	}
	if st := r.Status(""); strings.Contains(st.Description, "s3cret") {
		t.Errorf("status %+v", st)
	}
}
