package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	gokong "github.com/kong/go-kong/kong"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/credentials"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/target/registry"
	tkafka "github.com/k3sync/k3sync/internal/testenv/kafka"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

// TestRoundTripFromOtherTools is the done-when of adoption (#16): a
// team's state made by other tools — Kubernetes objects created with
// client-go as kubectl apply would (a quota and a limit range of their
// own names), Kafka topics, ACLs, a client quota and a SCRAM user through
// the admin API on a real broker, Kong entities by `deck sync` of a decK
// state file — is imported; the file validates; the first plan adopts
// everything on all three systems and does nothing else (no create, no
// delete, nothing blocked); once applied the next plan is empty; a change
// made out of band on an adopted resource of each system is planned as
// drift and reverted by the next apply; and importing the same live
// state again writes the same file.
//
// What the other tools make is what the tenant schema can describe. A
// quota, a limit range and a group's RoleBinding keep their own names
// (quota.name, limitRange.name, access[].name); the team has no k3sync
// deployer ServiceAccount, so the import sets deployer: false. A binding
// of several groups, or of a name no grant may have, is imported with a
// note and created beside it (see TestImport).
func TestRoundTripFromOtherTools(t *testing.T) {
	ctx := t.Context()
	cp := kube.StartT(t, 1)[0]
	kc := tkafka.StartT(t, tkafka.Options{Plaintext: true})
	kongURL, err := kongemu.New(kongemu.Options{}).Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := &peers{cfg: &config.Config{
		Clusters: map[string]config.Cluster{"eu-west": {Kubeconfig: cp.KubeconfigPath()}},
		Kafka:    map[string]config.Kafka{"main": {Brokers: kc.PlaintextBootstrap()}},
		Gateways: map[string]config.Gateway{"edge": {AdminURL: kongURL}},
	}}
	if p.kube, err = kubernetes.NewForConfig(cp.RESTConfig()); err != nil {
		t.Fatal(err)
	}
	if p.kcl, err = kgo.NewClient(kgo.SeedBrokers(kc.PlaintextBootstrap()...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kcl.Close)
	p.kafka = kadm.NewClient(p.kcl)
	if p.kong, err = gokong.NewClient(gokong.String(kongURL), nil); err != nil {
		t.Fatal(err)
	}
	kubectlMade(t, ctx, p.kube)
	kadmMade(t, ctx, p)
	deckMade(t, kongURL)

	repo := exampleRepo(t)
	platform, err := Platform(os.DirFS(repo))
	if err != nil {
		t.Fatal(err)
	}
	src, err := Connect(p.cfg, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	importFile := func() []byte {
		t.Helper()
		res, err := Import(ctx, src, Options{Tenant: "payments", Owners: []string{"team-payments@example.com"}, Namespaces: []string{"payments"}, Platform: platform})
		if err != nil {
			t.Fatal(err)
		}
		return res.File
	}
	file := importFile()
	if errs, err := Validate(os.DirFS(repo), "payments", file); err != nil || len(errs) > 0 {
		t.Fatalf("the imported tenant does not validate: %v %v\n%s", err, errs, file)
	}
	for _, want := range []string{`name: "compute"`, `name: "defaults"`} {
		if !bytes.Contains(file, []byte(want)) {
			t.Errorf("the imported quota and limit range keep their names: file lacks %s", want)
		}
	}
	roundTrip(t, p, repo, file)

	// The secrets the other tools set still work, and k3sync never
	// knew them: the key-auth key is the one decK synced, and the SCRAM
	// password kadm set still authenticates on the broker.
	keys, _, err := p.kong.KeyAuths.ListForConsumer(ctx, gokong.String("payments-partner"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Key == nil || *keys[0].Key != "secret-key-never-exported" {
		t.Errorf("consumer payments-partner's key-auth credentials after the round trip: %d, want the one decK made, same key", len(keys))
	}
	scram, err := kc.ClientAs("payments.api", "s3cret-never-exported")
	if err != nil {
		t.Fatal(err)
	}
	defer scram.Close()
	if _, err := kadm.NewClient(scram).ListTopics(ctx, "payments.ledger"); err != nil {
		t.Errorf("SCRAM user payments.api with the password kadm set, after the round trip: %v", err)
	}
	if again := importFile(); !bytes.Equal(again, file) {
		t.Errorf("importing the same state again, after the round trip, writes another file (-first +again):\n%s",
			cmp.Diff(strings.Split(string(file), "\n"), strings.Split(string(again), "\n")))
	}
}

// roundTrip plans, applies and plans again the imported tenant on all
// three systems, then drifts one adopted resource of each out of band
// and checks that the next apply reverts it.
func roundTrip(t *testing.T, p *peers, repoDir string, file []byte) {
	t.Helper()
	ctx := t.Context()
	ofs, err := Overlay(os.DirFS(repoDir), "payments", file)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := loader.Load(ofs)
	if err != nil {
		t.Fatalf("load the repo with the imported tenant: %v", err)
	}
	tenant := repo.Tenant("payments")
	if tenant == nil || !tenant.Policies.Adopt {
		t.Fatalf("tenant payments %+v: want it, with policies.adopt", tenant)
	}
	store := state.NewMemory()
	set, err := registry.Build(p.cfg, store, func() credentials.Tenants { return repo })
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	engine := apply.New(set.Targets...)
	req := plan.Request{Platform: &repo.Platform, Tenants: []plan.TenantRequest{{Desired: render.TenantResources(&repo.Platform, tenant), Model: tenant}}}

	// The first plan adopts, and only adopts, on every system.
	first := engine.Plan(ctx, req)
	for _, e := range first.Errors {
		t.Errorf("first plan: error %+v", e)
	}
	adopted := map[string]bool{}
	perSystem := map[plan.System]int{}
	for _, c := range first.Changes {
		if c.Action != plan.Adopt {
			t.Errorf("first plan: %s %s %v %q, want adopt only", c.Action, c.Key, c.Fields, c.Notes)
			continue
		}
		perSystem[c.System]++
		name := c.Name
		if c.Namespace != "" {
			name = c.Namespace + "/" + name
		}
		adopted[string(c.System)+" "+c.Kind+"/"+name] = true
	}
	for _, want := range []string{
		"kubernetes Namespace/payments", "kubernetes ResourceQuota/payments/compute", "kubernetes LimitRange/payments/defaults",
		"kubernetes RoleBinding/payments/developers",
		"kafka topic/payments.ledger", "kafka topic/payments.transactions", "kafka user/payments.api",
		"kong service/payments-api", "kong route/payments-public", "kong consumer/payments-partner",
		"kong acl-group/payments-partner/payments-partners", "kong credential/payments-partner/key-auth",
		"kong upstream/payments-api", "kong target/payments-api/api.payments.svc:8080",
	} {
		if !adopted[want] {
			t.Errorf("first plan does not adopt %s: %v", want, slices.Sorted(maps.Keys(adopted)))
		}
	}
	for _, sys := range []plan.System{plan.Kubernetes, plan.Kafka, plan.Kong} {
		if perSystem[sys] == 0 {
			t.Errorf("first plan adopts nothing on %s", sys)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	mustConverge := func(when string) {
		t.Helper()
		if rep := engine.Apply(ctx, req, plan.ApplyOptions{}); rep.Failed() {
			t.Fatalf("apply %s failed: %+v", when, rep)
		}
		again := engine.Plan(ctx, req)
		for _, c := range again.Changes {
			t.Errorf("plan after the apply %s: %s %s %v", when, c.Action, c.Key, c.Fields)
		}
		for _, e := range again.Errors {
			t.Errorf("plan after the apply %s: error %+v", when, e)
		}
	}
	mustConverge("of the adoptions")
	// No secret reached the plan or the inventories.
	var recorded []byte
	for _, id := range []string{"kubernetes/eu-west", "kafka/main", "kong/edge"} {
		entries, err := store.List(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			t.Errorf("no inventory of target %s after the apply", id)
		}
		b, err := json.Marshal(entries)
		if err != nil {
			t.Fatal(err)
		}
		recorded = append(recorded, b...)
	}
	planned, err := json.Marshal(first.Changes)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"secret-key-never-exported", "s3cret-never-exported"} {
		if bytes.Contains(planned, []byte(secret)) || bytes.Contains(recorded, []byte(secret)) {
			t.Errorf("the plan or the inventories hold the secret %q", secret)
		}
	}

	// Drift made out of band on an adopted resource of each system.
	mustPatch := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = p.kube.CoreV1().ResourceQuotas("payments").Patch(ctx, "compute", types.MergePatchType, []byte(`{"spec":{"hard":{"pods":"99"}}}`), metav1.PatchOptions{})
	mustPatch(err)
	alter, err := p.kafka.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1000")}}, "payments.transactions")
	mustPatch(err)
	for _, r := range alter {
		mustPatch(r.Err)
	}
	live, err := p.kong.Services.Get(ctx, gokong.String("payments-api"))
	mustPatch(err)
	_, err = p.kong.Services.Update(ctx, &gokong.Service{ID: live.ID, Retries: gokong.Int(9)})
	mustPatch(err)
	drifted := engine.Plan(ctx, req)
	wantDrift := map[string]bool{"kubernetes ResourceQuota compute": false, "kafka topic payments.transactions": false, "kong service payments-api": false}
	for _, c := range drifted.Changes {
		id := string(c.System) + " " + c.Kind + " " + c.Name
		if _, ok := wantDrift[id]; !ok || c.Action != plan.Update || !c.Drift {
			t.Errorf("plan after drift: %s %s drift %v %v, want a drifted update of %v only", c.Action, c.Key, c.Drift, c.Fields, slices.Sorted(maps.Keys(wantDrift)))
			continue
		}
		wantDrift[id] = true
	}
	for id, seen := range wantDrift {
		if !seen {
			t.Errorf("drift of %s is not detected", id)
		}
	}
	mustConverge("that reverts the drift")
	rq, err := p.kube.CoreV1().ResourceQuotas("payments").Get(ctx, "compute", metav1.GetOptions{})
	mustPatch(err)
	if got := rq.Spec.Hard[corev1.ResourcePods]; got.Value() != 50 {
		t.Errorf("quota pods after the revert: %s, want 50", got.String())
	}
	cfgs, err := p.kafka.DescribeTopicConfigs(ctx, "payments.transactions")
	mustPatch(err)
	if rc, err := cfgs.On("payments.transactions", nil); err != nil {
		t.Error(err)
	} else {
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" && (c.Value == nil || *c.Value != "604800000") {
				t.Errorf("topic retention.ms after the revert: %v, want 604800000", c.MaybeValue())
			}
		}
	}
	svc, err := p.kong.Services.Get(ctx, gokong.String("payments-api"))
	mustPatch(err)
	if svc.Retries == nil || *svc.Retries != 3 {
		t.Errorf("service retries after the revert: %v, want 3", svc.Retries)
	}
}

// kubectlMade makes, with client-go, what kubectl apply of a team's
// manifests would: the namespace, and a quota, a limit range and a
// group's RoleBinding of the team's own names. Nothing of k3sync's: the
// import sets deployer: false, so the first plan creates no deployer
// ServiceAccount or binding either.
func kubectlMade(t *testing.T, ctx context.Context, cs kubernetes.Interface) {
	t.Helper()
	must[*corev1.Namespace](t)(cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "payments", Labels: map[string]string{"team": "payments"}, Annotations: map[string]string{"example.com/note": "made by kubectl"},
	}}, metav1.CreateOptions{}))
	must[*corev1.ResourceQuota](t)(cs.CoreV1().ResourceQuotas("payments").Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "compute"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU: resource.MustParse("4"), corev1.ResourceRequestsMemory: resource.MustParse("8Gi"),
			corev1.ResourceLimitsCPU: resource.MustParse("8"), corev1.ResourcePods: resource.MustParse("50"),
		}},
	}, metav1.CreateOptions{}))
	must[*corev1.LimitRange](t)(cs.CoreV1().LimitRanges("payments").Create(ctx, &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		}}},
	}, metav1.CreateOptions{}))
	must[*rbacv1.RoleBinding](t)(cs.RbacV1().RoleBindings("payments").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "developers"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "payments-developers"}},
	}, metav1.CreateOptions{}))
}

// kadmMade makes, through the Kafka admin API, two topics (one with
// configs), the ACLs and client quota of a user, and its SCRAM
// credential.
func kadmMade(t *testing.T, ctx context.Context, p *peers) {
	t.Helper()
	create := func(name string, parts int32, configs map[string]*string) {
		t.Helper()
		r := must[kadm.CreateTopicResponse](t)(p.kafka.CreateTopic(ctx, parts, 1, configs, name))
		if r.Err != nil {
			t.Fatalf("create topic %s: %v", name, r.Err)
		}
	}
	s := kadm.StringPtr
	create("payments.transactions", 3, map[string]*string{"retention.ms": s("604800000"), "cleanup.policy": s("compact,delete")})
	create("payments.ledger", 1, nil)
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:payments.api").ResourcePatternType(kadm.ACLPatternPrefixed).Topics("payments.").Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:payments.api").ResourcePatternType(kadm.ACLPatternLiteral).Groups("payments.api").Operations(kadm.OpRead),
	} {
		for _, r := range must[kadm.CreateACLsResults](t)(p.kafka.CreateACLs(ctx, b)) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	quotaAndSCRAM(t, ctx, p)
}

// deckMade syncs a decK state file to the gateway with Debian's decK
// (1.4.0): a service with a route and plugins, a consumer with a key-auth
// key and an ACL group, an upstream with a target.
func deckMade(t *testing.T, kongURL string) {
	t.Helper()
	bin, err := exec.LookPath("deck")
	if err != nil {
		t.Fatal("deck not found: install Debian package deck (.ci/run does)")
	}
	doc := map[string]any{
		"_format_version": "1.1",
		"services": []any{map[string]any{
			"name": "payments-api", "url": "http://api.payments.svc.cluster.local:8080/v1", "retries": 3,
			"routes": []any{map[string]any{
				"name": "payments-public", "paths": []any{"/payments"}, "methods": []any{"GET", "POST"}, "strip_path": false,
				"plugins": []any{map[string]any{"name": "request-transformer", "config": map[string]any{"add": map[string]any{"headers": []any{"x-source:deck"}}}}},
			}},
			"plugins": []any{map[string]any{"name": "rate-limiting", "config": map[string]any{"minute": 600, "policy": "local"}}},
		}},
		"consumers": []any{map[string]any{
			"username": "payments-partner", "custom_id": "acme-001",
			"keyauth_credentials": []any{map[string]any{"key": "secret-key-never-exported"}},
			"acls":                []any{map[string]any{"group": "payments-partners"}},
		}},
		"upstreams": []any{map[string]any{
			"name": "payments-api", "algorithm": "least-connections",
			"targets": []any{map[string]any{"target": "api.payments.svc:8080", "weight": 50}},
		}},
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kong.yaml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "sync", "-s", "kong.yaml", "--kong-addr", kongURL, "--no-color")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DECK_ANALYTICS=off", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("deck sync: %v\n%s", err, out)
	}
}
