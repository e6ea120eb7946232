package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k3sync/k3sync/internal/reconcile"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/view"
)

// leftovers is what k3sync made for a tenant that is still live, one line
// per object or entity.
type leftovers struct {
	t     *testing.T
	p     *peers
	adm   *kadm.Client
	store StateStore
}

// kubernetes lists the tenant's labelled objects of every kind k3sync
// makes, on every cluster, and its credential Secrets.
func (l *leftovers) kubernetes(tenant string) []string {
	ctx := l.t.Context()
	sel := metav1.ListOptions{LabelSelector: "k3sync.io/tenant=" + tenant}
	var out []string
	for _, name := range []string{"eu-west", "us-east"} {
		cs := l.p.clusters[name]
		add := func(kind string, n int, err error) {
			if err != nil {
				l.t.Fatalf("%s: list %s: %v", name, kind, err)
			}
			for range n {
				out = append(out, name+"/"+kind)
			}
		}
		ns, err := cs.CoreV1().Namespaces().List(ctx, sel)
		// The test control planes run no namespace controller: a deleted
		// namespace stays terminating.
		live := 0
		for _, n := range ns.Items {
			if n.DeletionTimestamp == nil {
				live++
			}
		}
		add("Namespace", live, err)
		sa, err := cs.CoreV1().ServiceAccounts("").List(ctx, sel)
		add("ServiceAccount", len(sa.Items), err)
		rq, err := cs.CoreV1().ResourceQuotas("").List(ctx, sel)
		add("ResourceQuota", len(rq.Items), err)
		lr, err := cs.CoreV1().LimitRanges("").List(ctx, sel)
		add("LimitRange", len(lr.Items), err)
		rb, err := cs.RbacV1().RoleBindings("").List(ctx, sel)
		add("RoleBinding", len(rb.Items), err)
		np, err := cs.NetworkingV1().NetworkPolicies("").List(ctx, sel)
		add("NetworkPolicy", len(np.Items), err)
	}
	return out
}

// credentials lists the credential Secrets k3sync delivered in namespace.
func (l *leftovers) credentials(cluster, namespace string) []string {
	list, err := l.p.clusters[cluster].CoreV1().Secrets(namespace).List(l.t.Context(), metav1.ListOptions{LabelSelector: "k3sync.io/credential"})
	if err != nil {
		l.t.Fatal(err)
	}
	var out []string
	for _, s := range list.Items {
		out = append(out, s.Name)
	}
	return out
}

// kafka lists the ACLs, SCRAM users and quotas of user.
func (l *leftovers) kafka(user string) []string {
	ctx := l.t.Context()
	var out []string
	acls, err := l.adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow("User:"+user).AllowHosts().Deny("User:"+user).DenyHosts())
	if err != nil {
		l.t.Fatal(err)
	}
	for _, r := range acls {
		for _, a := range r.Described {
			out = append(out, fmt.Sprintf("acl %s %s %s", a.Type, a.Name, a.Operation))
		}
	}
	scram, err := l.adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	if _, ok := scram[user]; ok {
		out = append(out, "scram user "+user)
	}
	quotas, err := l.adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: &user}})
	if err != nil {
		l.t.Fatal(err)
	}
	for _, q := range quotas {
		for _, v := range q.Values {
			out = append(out, "quota "+v.Key)
		}
	}
	return out
}

// kong lists the entities tagged for the tenant.
func (l *leftovers) kong(tenant string) []string {
	var out []string
	for _, kind := range []string{"services", "routes", "plugins", "consumers", "upstreams"} {
		req, err := http.NewRequestWithContext(l.t.Context(), http.MethodGet, l.p.kongURL+"/"+kind+"?tags=k3sync-tenant:"+tenant, nil)
		if err != nil {
			l.t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			l.t.Fatal(err)
		}
		var body struct {
			Data []struct {
				Name string `json:"name"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if err != nil {
			l.t.Fatalf("kong %s: %v", kind, err)
		}
		for _, e := range body.Data {
			out = append(out, kind+"/"+e.Name)
		}
	}
	return out
}

// inventory lists what k3sync's state store still says the tenant owns.
func (l *leftovers) inventory(tenant string) []string {
	entries, err := l.store.List(l.t.Context(), "")
	if err != nil {
		l.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Tenant != tenant {
			continue
		}
		for id := range e.Resources {
			out = append(out, e.Target+" "+id)
		}
	}
	slices.Sort(out)
	return out
}

func overviewRow(t *testing.T, rec *reconcile.Reconciler, tenant string) (view.TenantSummary, bool) {
	t.Helper()
	o, err := rec.Overview(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(o.Tenants, func(ts view.TenantSummary) bool { return ts.Name == tenant })
	if i < 0 {
		return view.TenantSummary{}, false
	}
	return o.Tenants[i], true
}

// TestRemovedTenantIsOffboarded: removing a tenant's folder from Git
// deletes everything k3sync made for it on every system, keeps what its
// definition protects (checkout's namespace and topics) but takes k3sync's
// credentials out of the kept namespace, empties its inventory, and the
// overview stops listing it once nothing is left; its history stays
// readable. Then search, on both clusters with deletable namespaces, goes
// entirely.
func TestRemovedTenantIsOffboarded(t *testing.T) {
	p, d := startDaemon(t)
	ctx := t.Context()
	rec := d.Reconciler
	l := &leftovers{t: t, p: p, adm: kadm.NewClient(mustKgo(t, p.kafka.ListenAddrs())), store: d.store}
	rec.PollOnce(ctx)
	if got := l.kubernetes("checkout"); len(got) < 5 {
		t.Fatalf("checkout after the first sync: %v", got)
	}
	if got := l.credentials("eu-west", "checkout"); !slices.Contains(got, "kafka-user-checkout.service") {
		t.Fatalf("checkout's SCRAM password was not delivered: %v", got)
	}
	if got := l.kafka("checkout.service"); len(got) < 4 {
		t.Fatalf("checkout's Kafka access after the first sync: %v", got)
	}
	if got := l.kong("checkout"); len(got) < 4 {
		t.Fatalf("checkout's Kong entities after the first sync: %v", got)
	}

	p.repo.Remove("tenants/checkout/tenant.cue")
	p.repo.Commit("Offboard checkout")
	rec.PollOnce(ctx)

	if got := l.kubernetes("checkout"); fmt.Sprint(got) != "[eu-west/Namespace]" {
		t.Errorf("checkout's Kubernetes objects left: %v, want only its namespace (deletion not allowed)", got)
	}
	if _, err := p.clusters["eu-west"].CoreV1().Namespaces().Get(ctx, "checkout", metav1.GetOptions{}); err != nil {
		t.Errorf("the protected namespace checkout: %v", err)
	}
	if got := l.credentials("eu-west", "checkout"); len(got) > 0 {
		t.Errorf("credential Secrets left in the orphaned namespace: %v", got)
	}
	if got := l.kafka("checkout.service"); len(got) > 0 {
		t.Errorf("checkout's Kafka access left: %v", got)
	}
	topics, err := l.adm.ListTopics(ctx)
	if err != nil || !topics.Has("checkout.orders") || !topics.Has("checkout.carts") {
		t.Errorf("checkout's topics (deletion not allowed) must be kept: %v (%v)", topics.Names(), err)
	}
	if got := l.kong("checkout"); len(got) > 0 {
		t.Errorf("checkout's Kong entities left: %v", got)
	}
	if got := l.inventory("checkout"); len(got) > 0 {
		t.Errorf("checkout's inventory is not empty: %v", got)
	}
	if row, ok := overviewRow(t, rec, "checkout"); ok {
		t.Errorf("the overview still lists checkout, all gone: %+v", row)
	}
	tv, err := rec.Tenant(ctx, "checkout")
	if err != nil {
		t.Fatalf("checkout's page after offboarding: %v", err)
	}
	if len(tv.History) == 0 || tv.History[0].Result != state.ResultSynced || tv.History[0].Summary.Delete == 0 || tv.History[0].Summary.Orphan == 0 {
		t.Errorf("checkout's last run does not show the offboarding: %+v", tv.History[:min(1, len(tv.History))])
	}

	// search has deletable namespaces on both clusters and more deletes
	// than the platform's limit of 20: the guard holds it, shown as
	// removed with what is pending, until an operator overrides.
	before := l.kubernetes("search")
	p.repo.Remove("tenants/search/tenant.cue")
	p.repo.Commit("Offboard search")
	rec.PollOnce(ctx)
	row, ok := overviewRow(t, rec, "search")
	if !ok || row.State != view.Removed || !strings.HasPrefix(row.Note, "removed from Git: ") {
		t.Fatalf("search while held: %+v (listed %v), want state removed with a note", row, ok)
	}
	t.Logf("search while held: %s", row.Note)
	if got := l.kubernetes("search"); len(got) != len(before) {
		t.Errorf("search was touched while held: %v, was %v", got, before)
	}
	tv, err = rec.Tenant(ctx, "search")
	if err != nil || len(tv.History) == 0 || tv.History[0].Result != state.ResultBlocked || !strings.Contains(tv.History[0].Message, "mass-deletion guard") {
		t.Fatalf("search's run does not say the guard held: %v %+v", err, tv.History[:min(1, len(tv.History))])
	}
	// The operator overrides on the removed tenant's own row: a sync of
	// search by name, though Git no longer has it.
	if s := manualSync(t, rec, view.TriggerRequest{Tenant: "search", Who: "operator", AllowMassDeletion: true}); len(s.Runs) != 1 || s.Runs[0].Result != state.ResultSynced {
		t.Fatalf("sync of the removed tenant search: %q %+v", s.Error, s.Runs)
	}
	if got := l.kubernetes("search"); len(got) > 0 {
		t.Errorf("search's Kubernetes objects left: %v", got)
	}
	for _, name := range []string{"eu-west", "us-east"} {
		for _, ns := range []string{"search", "search-indexer"} {
			if got, err := p.clusters[name].CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil && got.DeletionTimestamp == nil {
				t.Errorf("%s: namespace %s (deletion allowed) is still there", name, ns)
			} else if err != nil && !apierrors.IsNotFound(err) {
				t.Error(err)
			}
		}
	}
	if got := l.kong("search"); len(got) > 0 {
		t.Errorf("search's Kong entities left: %v", got)
	}
	if got := l.inventory("search"); len(got) > 0 {
		t.Errorf("search's inventory is not empty: %v", got)
	}
	if row, ok := overviewRow(t, rec, "search"); ok {
		t.Errorf("the overview still lists search, all gone: %+v", row)
	}
}

// manualSync runs a manual sync through the reconciler's worker and
// waits for it.
func manualSync(t *testing.T, rec *reconcile.Reconciler, req view.TriggerRequest) view.Sync {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = rec.Start(ctx)
	}()
	defer func() { cancel(); <-done }()
	s, err := rec.Trigger(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		got, err := rec.Sync(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Phase == view.Done {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the manual sync did not finish")
	return view.Sync{}
}

// TestRemovingThreeTenantsIsHeld: removing three tenants at once deletes
// more than the platform allows: the guard holds every one of them,
// each run says why, nothing is written anywhere, and the overview shows
// them as removed with what is pending.
func TestRemovingThreeTenantsIsHeld(t *testing.T) {
	p, d := startDaemon(t)
	ctx := t.Context()
	rec := d.Reconciler
	l := &leftovers{t: t, p: p, adm: kadm.NewClient(mustKgo(t, p.kafka.ListenAddrs())), store: d.store}
	rec.PollOnce(ctx)
	removed := []string{"checkout", "payments", "search"}
	before := map[string]string{}
	for _, tn := range removed {
		before[tn] = fmt.Sprint(l.kubernetes(tn), l.kong(tn), l.inventory(tn))
		p.repo.Remove("tenants/" + tn + "/tenant.cue")
	}
	p.repo.Commit("Offboard three tenants")
	k0, ka0, ko0 := p.writes(d)
	rec.PollOnce(ctx)
	if k, ka, ko := p.writes(d); k != k0 || ka != ka0 || ko != ko0 {
		t.Errorf("held tenants were written: kubernetes %d, kafka %d, kong %d", k-k0, ka-ka0, ko-ko0)
	}
	for _, tn := range removed {
		if got := fmt.Sprint(l.kubernetes(tn), l.kong(tn), l.inventory(tn)); got != before[tn] {
			t.Errorf("%s changed while held:\n%s\nwas\n%s", tn, got, before[tn])
		}
		tv, err := rec.Tenant(ctx, tn)
		if err != nil {
			t.Fatalf("%s: %v", tn, err)
		}
		if tv.State != view.Removed || !strings.HasPrefix(tv.Note, "removed from Git: ") {
			t.Errorf("%s: state %s %q, want removed with what is pending", tn, tv.State, tv.Note)
		}
		if len(tv.History) == 0 || tv.History[0].Result != state.ResultBlocked ||
			!strings.Contains(tv.History[0].Message, "mass-deletion guard: the plan deletes") {
			t.Errorf("%s: the last run does not say the guard held: %+v", tn, tv.History[:min(1, len(tv.History))])
		}
	}
}
