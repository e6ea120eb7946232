package daemon

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/view"
)

// hostileTenants are tenant folders written to reach past their tenancy,
// one per guardrail class; each alone makes the revision invalid.
var hostileTenants = map[string]string{
	// A tenant folder named kube claiming kube-system, making it
	// privileged and granting admin to every authenticated user.
	"tenants/kube/tenant.cue": `package k3sync
owners: ["mallory@example.com"]
kubernetes: {
	clusters: ["eu-west"]
	namespaces: "kube-system": {
		labels: "pod-security.kubernetes.io/enforce": "privileged"
		quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
	}
	access: [{group: "system:authenticated", role: "admin"}]
}
`,
	// ALTER on the Kafka cluster, another tenant's ACL group, the cloud
	// metadata address, a code-running plugin and a route name that
	// would break out of the PR comment's code block.
	"tenants/mallory/tenant.cue": `package k3sync
owners: ["mallory@example.com"]
kubernetes: {
	clusters: ["eu-west"]
	namespaces: mallory: quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
}
kafka: {
	cluster: "main"
	users: "mallory.app": acls: [{resource: "cluster", name: "kafka-cluster", operations: ["all"]}]
}
kong: {
	gateway: "edge"
	consumers: "mallory-app": groups: ["payments"]
	services: "mallory-api": {
		url: "http://169.254.169.254/latest/meta-data"
		routes: "mallory-r\n` + "```" + `\n<!--": paths: ["/mallory"]
		plugins: "pre-function": config: access: ["os.execute('id')"]
	}
}
`,
	// A gigabyte string: 26 doublings of a field.
	"tenants/huge/tenant.cue": hugeTenant(),
	// A file over policy.input.maxFileBytes (256 KiB).
	"tenants/big/tenant.cue": "package k3sync\nowners: [\"big@example.com\"]\n// " + strings.Repeat("x", 300<<10) + "\n",
}

func hugeTenant() string {
	var b strings.Builder
	b.WriteString("package k3sync\n_a0: \"xxxxxxxxxxxxxxxx\"\n")
	for i := 1; i <= 26; i++ {
		fmt.Fprintf(&b, "_a%d: _a%d + _a%d\n", i, i-1, i-1)
	}
	b.WriteString("owners: [_a26]\n")
	return b.String()
}

// TestHostileTenantsReachNothing: on the real peers, a commit of hostile
// tenant folders is refused with an error naming each, nothing reaches
// Kubernetes, Kafka or Kong, and the daemon keeps serving the last valid
// revision; a valid tenant that claims a namespace k3sync did not create
// is blocked, and the namespace is left as its owner made it.
func TestHostileTenantsReachNothing(t *testing.T) {
	p, d := startDaemon(t)
	ctx := t.Context()
	rec := d.Reconciler
	rec.PollOnce(ctx)
	o, err := rec.Overview(ctx)
	if err != nil || len(o.ValidationErrors) > 0 {
		t.Fatalf("first sync: %v %q", err, o.ValidationErrors)
	}
	good := o.Revision.Hash
	kubeSystem := func() map[string]string {
		ns, err := p.clusters["eu-west"].CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ns.Labels
	}
	labels0 := fmt.Sprint(kubeSystem())
	adm := kadm.NewClient(mustKgo(t, p.kafka.ListenAddrs()))
	acls := func() int {
		res, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range res {
			n += len(r.Described)
		}
		return n
	}
	acls0 := acls()
	if acls0 == 0 {
		t.Fatal("the example's ACLs are not listed: the count below would prove nothing")
	}

	for name, src := range hostileTenants {
		p.repo.WriteFile(name, src)
	}
	p.repo.Commit("Hostile tenants")
	k0, ka0, ko0 := p.writes(d)
	rec.PollOnce(ctx)
	o, err = rec.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every class is named, at its file and field.
	want := []string{
		`tenants/big/tenant.cue:1:1: file is 307247 bytes, the platform allows at most 262144 per tenant file (policy.input.maxFileBytes)`,
		`tenants/huge/tenant.cue:1:1: tenant folder tenants/huge: evaluation used more than 512 MiB of memory (policy.input.maxEvalMemory); its files were not evaluated further`,
		`tenants/kube/tenant.cue:1:1: tenant name "kube" is reserved (kube-* namespaces belong to Kubernetes): rename the folder tenants/kube`,
		`tenants/kube/tenant.cue:5:14: kubernetes.namespaces."kube-system": namespace "kube-system" is reserved (kube-* namespaces belong to Kubernetes): no tenant may claim it`,
		`tenants/kube/tenant.cue:6:11: kubernetes.namespaces."kube-system".labels."pod-security.kubernetes.io/enforce": label "pod-security.kubernetes.io/enforce" has the reserved prefix "pod-security.kubernetes.io": only keys the platform allows (policy.guardrails.kubernetes.allowedLabelKeys)`,
		`tenants/kube/tenant.cue:9:12: kubernetes.access.0.group: group "system:authenticated" is a Kubernetes system group: tenants may not grant roles to system:* groups`,
		`tenants/mallory/tenant.cue:9:89: kafka.users."mallory.app".acls.0.operations.0: operation "all" on the cluster resource reaches beyond the tenant: the platform allows "idempotent-write" (policy.guardrails.kafka.allowedClusterOperations)`,
		`tenants/mallory/tenant.cue:13:37: kong.consumers."mallory-app".groups.0: ACL group "payments" is outside tenant mallory's prefix ("mallory" or "mallory-...")`,
		`tenants/mallory/tenant.cue:15:3: kong.services."mallory-api".url: url "http://169.254.169.254/latest/meta-data" points to the cloud metadata address 169.254.169.254; the platform does not allow it (policy.guardrails.kong.allowedServiceCIDRs)`,
		"tenants/mallory/tenant.cue:16:11: kong.services.\"mallory-api\".routes.\"mallory-r\\n```\\n<!--\": route name \"mallory-r\\n```\\n<!--\" has characters Kong does not accept: use letters, digits, '.', '-', '_' and '~'",
		`tenants/mallory/tenant.cue:17:12: kong.services."mallory-api".plugins."pre-function": plugin "pre-function" runs code on the gateway; the platform does not allow it (policy.guardrails.kong.allowedPlugins)`,
	}
	// The huge tenant is stopped by whichever bound it reaches first: on
	// a loaded machine the evaluation may run out of time (evalTimeout)
	// before it reaches its memory limit. Either keeps it from the daemon.
	got := slices.Clone(o.ValidationErrors)
	for i, e := range got {
		if strings.HasPrefix(e, "tenants/huge/") {
			got[i] = strings.Replace(e, "took longer than 10s (policy.input.evalTimeout)", "used more than 512 MiB of memory (policy.input.maxEvalMemory)", 1)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("validation errors (-want +got):\n%s", diff)
	}
	if k, ka, ko := p.writes(d); k != k0 || ka != ka0 || ko != ko0 {
		t.Errorf("a hostile revision reached the systems: kubernetes %d, kafka %d, kong %d writes", k-k0, ka-ka0, ko-ko0)
	}
	if l := fmt.Sprint(kubeSystem()); l != labels0 {
		t.Errorf("kube-system labels changed: %s, were %s", l, labels0)
	}
	if n := acls(); n != acls0 {
		t.Errorf("kafka ACLs: %d, were %d", n, acls0)
	}
	if n := p.kong.Count("services"); n != 3 {
		t.Errorf("kong services: %d, want the example's 3", n)
	}
	if err := rec.Ready(); err != nil {
		t.Errorf("the daemon stopped serving: %v", err)
	}
	if o.Revision.Hash == good {
		t.Error("overview does not show the newest revision")
	}

	// A valid tenant whose namespace someone else made: blocked, the
	// namespace untouched, nothing created in it, no credential
	// delivered into it, and the rest of the repo still synced.
	for name := range hostileTenants {
		p.repo.Remove(name)
	}
	if _, err := p.clusters["eu-west"].CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "legacy", Labels: map[string]string{"owner": "someone-else"},
	}}, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		t.Fatal(err)
	}
	p.repo.WriteFile("tenants/legacy/tenant.cue", `package k3sync
owners: ["legacy@example.com"]
kubernetes: {
	clusters: ["eu-west"]
	namespaces: legacy: {
		labels: owner: "legacy-team"
		quota: {requests: {cpu: "1", memory: "1Gi"}, pods: 10}
	}
}
kafka: {
	cluster: "main"
	users: "legacy.app": acls: [{resource: "topic", name: "legacy.", pattern: "prefixed", operations: ["read"]}]
}
`)
	p.repo.Commit("Tenant legacy, whose namespace exists")
	rec.PollOnce(ctx)
	o, err = rec.Overview(ctx)
	if err != nil || len(o.ValidationErrors) > 0 {
		t.Fatalf("legacy revision: %v %q", err, o.ValidationErrors)
	}
	ns, err := p.clusters["eu-west"].CoreV1().Namespaces().Get(ctx, "legacy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels["owner"] != "someone-else" || ns.Labels["k3sync.io/tenant"] != "" {
		t.Errorf("legacy namespace taken over: labels %v", ns.Labels)
	}
	for _, kind := range []string{"secrets", "serviceaccounts", "resourcequotas", "rolebindings"} {
		var n int
		switch kind {
		case "secrets":
			l, err := p.clusters["eu-west"].CoreV1().Secrets("legacy").List(ctx, metav1.ListOptions{LabelSelector: "k3sync.io/tenant"})
			if err == nil {
				n = len(l.Items)
			}
		case "serviceaccounts":
			l, err := p.clusters["eu-west"].CoreV1().ServiceAccounts("legacy").List(ctx, metav1.ListOptions{LabelSelector: "k3sync.io/tenant"})
			if err == nil {
				n = len(l.Items)
			}
		case "resourcequotas":
			l, err := p.clusters["eu-west"].CoreV1().ResourceQuotas("legacy").List(ctx, metav1.ListOptions{})
			if err == nil {
				n = len(l.Items)
			}
		case "rolebindings":
			l, err := p.clusters["eu-west"].RbacV1().RoleBindings("legacy").List(ctx, metav1.ListOptions{})
			if err == nil {
				n = len(l.Items)
			}
		}
		if n != 0 {
			t.Errorf("k3sync wrote %d %s into a namespace it does not own", n, kind)
		}
	}
	tv, err := rec.Tenant(ctx, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	var blocked []string
	if tv.Plan != nil {
		for _, c := range tv.Plan.Changes {
			if c.Action == plan.Blocked && c.Kind == "Namespace" && strings.Contains(strings.Join(c.Notes, " "), "exists, not owned by k3sync") {
				blocked = append(blocked, c.Key.String())
			}
		}
	}
	if fmt.Sprint(blocked) != "[kubernetes/eu-west/Namespace/legacy]" {
		t.Errorf("tenant legacy's plan: blocked namespaces %v, want the legacy namespace, not owned\n%+v", blocked, tv.Plan)
	}
	states := states(o)
	if states["payments"] != view.Synced {
		t.Errorf("payments: %s, want synced", states["payments"])
	}
}
