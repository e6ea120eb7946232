package importer

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	gokong "github.com/kong/go-kong/kong"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/testenv/kube"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Hostile values the live systems may hold: each must stay inside its
// string literal, in values and in comments.
const (
	hostileAnnotation = "a \"quoted\" \\ back\nslash */ } \n// owners: [\"evil\"]"
	hostileUser       = "mallory\"\n}\npolicies: adopt: false\n//"
	hostileHeader     = "x-note:\"quoted\" \\ */ \u2028 end"
)

// peers are the live systems of a test: a real kube-apiserver, kfake and
// the Kong emulator, with the config file that reaches them.
type peers struct {
	cfg   *config.Config
	kube  kubernetes.Interface
	kube2 kubernetes.Interface // us-east
	kafka *kadm.Client
	kcl   *kgo.Client
	kong  *gokong.Client
}

func startPeers(t *testing.T) *peers {
	t.Helper()
	planes := kube.StartT(t, 2)
	cp := planes[0]
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	kongURL, err := kongemu.New(kongemu.Options{}).Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p := &peers{cfg: &config.Config{
		Clusters: map[string]config.Cluster{"eu-west": {Kubeconfig: cp.KubeconfigPath()}, "us-east": {Kubeconfig: planes[1].KubeconfigPath()}},
		Kafka:    map[string]config.Kafka{"main": {Brokers: kc.ListenAddrs()}},
		Gateways: map[string]config.Gateway{"edge": {AdminURL: kongURL}},
	}}
	if p.kube, err = kubernetes.NewForConfig(cp.RESTConfig()); err != nil {
		t.Fatal(err)
	}
	if p.kube2, err = kubernetes.NewForConfig(planes[1].RESTConfig()); err != nil {
		t.Fatal(err)
	}
	if p.kcl, err = kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kcl.Close)
	p.kafka = kadm.NewClient(p.kcl)
	if p.kong, err = gokong.NewClient(gokong.String(kongURL), nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// populateKube gives team payments what it has before k3sync: a
// namespace with a quota, a limit range, labels, an annotation and role
// bindings, one importable and some not.
func populateKube(t *testing.T, ctx context.Context, cs kubernetes.Interface) {
	t.Helper()
	mustNS := must[*corev1.Namespace](t)
	mustNS(cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        "payments",
		Labels:      map[string]string{"team": "payments", "pod-security.kubernetes.io/enforce": "restricted"},
		Annotations: map[string]string{"example.com/note": hostileAnnotation},
	}}, metav1.CreateOptions{}))
	mustNS(cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}))
	must[*corev1.ResourceQuota](t)(cs.CoreV1().ResourceQuotas("payments").Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "compute"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU:    resource.MustParse("4"),
			corev1.ResourceRequestsMemory: resource.MustParse("8192Mi"),
			corev1.ResourceLimitsCPU:      resource.MustParse("8"),
			corev1.ResourcePods:           resource.MustParse("50"),
			"services":                    resource.MustParse("10"),
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
	rb := func(name, kind, role string, subjects ...rbacv1.Subject) {
		t.Helper()
		must[*rbacv1.RoleBinding](t)(cs.RbacV1().RoleBindings("payments").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role},
			Subjects:   subjects,
		}, metav1.CreateOptions{}))
	}
	group := func(n string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: n}
	}
	rb("developers", "ClusterRole", "edit", group("payments-developers"))
	// A name no grant may have (access[].name is a DNS label): imported
	// under k3sync's name, with a note.
	rb("team:readers", "ClusterRole", "view", group("payments-readers"))
	rb("auditors", "ClusterRole", "view", group("auditors"), rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: hostileUser})
	rb("oncall-root", "ClusterRole", "cluster-admin", group("payments-oncall"))
	rb("ci", "ClusterRole", "edit", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "ci", Namespace: "payments"})
}

// populateSecondCluster gives the team's namespace on the second
// cluster another quota and a binding the first cluster does not have.
func populateSecondCluster(t *testing.T, ctx context.Context, cs kubernetes.Interface) {
	t.Helper()
	must[*corev1.Namespace](t)(cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "payments", Labels: map[string]string{"team": "payments"},
	}}, metav1.CreateOptions{}))
	must[*corev1.ResourceQuota](t)(cs.CoreV1().ResourceQuotas("payments").Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: render.QuotaName},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU:    resource.MustParse("2"),
			corev1.ResourceRequestsMemory: resource.MustParse("4Gi"),
			corev1.ResourcePods:           resource.MustParse("20"),
		}},
	}, metav1.CreateOptions{}))
	must[*rbacv1.RoleBinding](t)(cs.RbacV1().RoleBindings("payments").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: render.RoleBindingName("payments-oncall", "admin")},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "payments-oncall"}},
	}, metav1.CreateOptions{}))
}

// populateKafka: topics with a config set and one default, ACLs, a
// client quota and a SCRAM user.
func populateKafka(t *testing.T, ctx context.Context, p *peers) {
	t.Helper()
	create := func(name string, parts int32, configs map[string]*string) {
		t.Helper()
		r := must[kadm.CreateTopicResponse](t)(p.kafka.CreateTopic(ctx, parts, 1, configs, name))
		if r.Err != nil {
			t.Fatalf("create topic %s: %v", name, r.Err)
		}
	}
	s := kadm.StringPtr
	create("payments.transactions", 3, map[string]*string{"retention.ms": s("604800000"), "cleanup.policy": s("compact,delete"), "unclean.leader.election.enable": s("true")})
	// retention.ms -1 keeps the data forever: above TestImport's ceiling.
	create("payments.ledger", 1, map[string]*string{"retention.ms": s("-1")})
	create("checkout.carts", 1, nil)

	b := kadm.NewACLs().Allow("User:payments.api").ResourcePatternType(kadm.ACLPatternPrefixed).Topics("payments.").Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe)
	for _, r := range must[kadm.CreateACLsResults](t)(p.kafka.CreateACLs(ctx, b)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	b = kadm.NewACLs().Allow("User:payments.api").ResourcePatternType(kadm.ACLPatternLiteral).Groups("payments.api").Operations(kadm.OpRead)
	must[kadm.CreateACLsResults](t)(p.kafka.CreateACLs(ctx, b))
	b = kadm.NewACLs().Allow("User:analytics.etl").ResourcePatternType(kadm.ACLPatternLiteral).Topics("payments.transactions").Operations(kadm.OpRead)
	must[kadm.CreateACLsResults](t)(p.kafka.CreateACLs(ctx, b))

	quotaAndSCRAM(t, ctx, p)
}

// quotaAndSCRAM gives user payments.api a producer byte rate quota and a
// SCRAM-SHA-512 credential.
func quotaAndSCRAM(t *testing.T, ctx context.Context, p *peers) {
	t.Helper()
	req := kmsg.NewPtrAlterClientQuotasRequest()
	e := kmsg.NewAlterClientQuotasRequestEntry()
	ec := kmsg.NewAlterClientQuotasRequestEntryEntity()
	ec.Type, ec.Name = "user", kmsg.StringPtr("payments.api")
	e.Entity = append(e.Entity, ec)
	op := kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key, op.Value = "producer_byte_rate", 1048576
	e.Ops = append(e.Ops, op)
	req.Entries = append(req.Entries, e)
	resp := must[*kmsg.AlterClientQuotasResponse](t)(req.RequestWith(ctx, p.kcl))
	for _, en := range resp.Entries {
		if en.ErrorCode != 0 {
			t.Fatalf("alter client quotas: code %d", en.ErrorCode)
		}
	}
	res := must[kadm.AlteredUserSCRAMs](t)(p.kafka.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{
		User: "payments.api", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "s3cret-never-exported",
	}}))
	if err := res.Error(); err != nil {
		t.Fatal(err)
	}
}

// populateKong: a service with a route and plugins, a consumer with
// key-auth and an ACL group, an upstream with a target, and what no
// tenant may have.
func populateKong(t *testing.T, ctx context.Context, c *gokong.Client) {
	t.Helper()
	svc := must[*gokong.Service](t)(c.Services.Create(ctx, &gokong.Service{
		Name: gokong.String("payments-api"), URL: gokong.String("http://api.payments.svc.cluster.local:8080/v1"),
		Retries: gokong.Int(3), Tags: gokong.StringSlice("team-payments"),
	}))
	route := must[*gokong.Route](t)(c.Routes.Create(ctx, &gokong.Route{
		Name: gokong.String("payments-public"), Service: &gokong.Service{ID: svc.ID},
		Paths: gokong.StringSlice("/payments"), Methods: gokong.StringSlice("GET", "POST"), StripPath: gokong.Bool(false),
	}))
	// Outside the tenant's paths: the platform refuses it, Fit comments it out.
	must[*gokong.Route](t)(c.Routes.Create(ctx, &gokong.Route{
		Name: gokong.String("payments-legacy"), Service: &gokong.Service{ID: svc.ID}, Paths: gokong.StringSlice("/legacy"),
	}))
	must[*gokong.Plugin](t)(c.Plugins.Create(ctx, &gokong.Plugin{
		Name: gokong.String("rate-limiting"), Service: &gokong.Service{ID: svc.ID},
		Config: gokong.Configuration{"minute": 600, "policy": "local"},
	}))
	must[*gokong.Plugin](t)(c.Plugins.Create(ctx, &gokong.Plugin{
		Name: gokong.String("request-transformer"), Route: &gokong.Route{ID: route.ID},
		Config: gokong.Configuration{"add": map[string]any{"headers": []any{hostileHeader}}},
	}))
	must[*gokong.Plugin](t)(c.Plugins.Create(ctx, &gokong.Plugin{
		Name: gokong.String("pre-function"), Service: &gokong.Service{ID: svc.ID},
		Config: gokong.Configuration{"access": []any{"kong.log.err('hi')"}},
	}))
	cons := must[*gokong.Consumer](t)(c.Consumers.Create(ctx, &gokong.Consumer{
		Username: gokong.String("payments-partner"), CustomID: gokong.String("acme-001"),
	}))
	must[*gokong.KeyAuth](t)(c.KeyAuths.Create(ctx, cons.ID, &gokong.KeyAuth{Key: gokong.String("secret-key-never-exported")}))
	must[*gokong.ACLGroup](t)(c.ACLs.Create(ctx, cons.ID, &gokong.ACLGroup{Group: gokong.String("payments-partners")}))
	must[*gokong.BasicAuth](t)(c.BasicAuths.Create(ctx, cons.ID, &gokong.BasicAuth{Username: gokong.String("acme"), Password: gokong.String("basic-never-exported")}))
	must[*gokong.Consumer](t)(c.Consumers.Create(ctx, &gokong.Consumer{Username: gokong.String("checkout-web")}))
	up := must[*gokong.Upstream](t)(c.Upstreams.Create(ctx, &gokong.Upstream{
		Name: gokong.String("payments-api"), Algorithm: gokong.String("least-connections"),
	}))
	must[*gokong.Target](t)(c.Targets.Create(ctx, up.ID, &gokong.Target{Target: gokong.String("api.payments.svc:8080"), Weight: gokong.Int(50)}))
}

func exampleRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "examples", "platform-repo"))); err != nil {
		t.Fatal(err)
	}
	return dir
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the generated file (run with -update to accept):\n%s", path, got)
	}
}

func TestImport(t *testing.T) {
	p := startPeers(t)
	ctx := t.Context()
	populateKube(t, ctx, p.kube)
	populateSecondCluster(t, ctx, p.kube2)
	populateKafka(t, ctx, p)
	populateKong(t, ctx, p.kong)

	repo := exampleRepo(t)
	// A platform that caps topic retention (30 days).
	pf, err := os.OpenFile(filepath.Join(repo, "platform.cue"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pf.WriteString("\npolicy: guardrails: kafka: maxTopicConfigs: \"retention.ms\": 2592000000\n"); err != nil {
		t.Fatal(err)
	}
	if err := pf.Close(); err != nil {
		t.Fatal(err)
	}
	platform, err := Platform(os.DirFS(repo))
	if err != nil {
		t.Fatal(err)
	}
	src, err := Connect(p.cfg, "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var progress []string
	res, err := Import(ctx, src, Options{
		Tenant: "payments", Owners: []string{"team-payments@example.com"}, Namespaces: []string{"payments", "payments-batch", "other"},
		Platform: platform, Progress: func(f string, a ...any) { progress = append(progress, f) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs, err := res.Fit(os.DirFS(repo)); err != nil || len(errs) > 0 {
		t.Fatalf("the imported tenant does not fit the example platform: %v %v", err, errs)
	}
	golden(t, "payments.cue", res.File)
	// A second import of the same live state writes the same file: lists
	// are sorted, maps are ordered, nothing depends on read order.
	again, err := Import(ctx, src, Options{
		Tenant: "payments", Owners: []string{"team-payments@example.com"}, Namespaces: []string{"payments", "payments-batch", "other"},
		Platform: platform,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Fit(os.DirFS(repo)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.File, res.File) {
		t.Errorf("a second import of the same state differs:\n%s\n---\n%s", again.File, res.File)
	}
	t.Logf("not importable:\n%s", strings.Join(res.NotImportable, "\n"))
	if errs, err := Validate(os.DirFS(repo), "payments", res.File); err != nil || len(errs) > 0 {
		t.Fatalf("the imported tenant does not validate against the example platform: %v %v", err, errs)
	}
	if len(progress) == 0 {
		t.Errorf("no progress lines")
	}
	for _, s := range []string{"secret-key-never-exported", "s3cret-never-exported", "basic-never-exported"} {
		if bytes.Contains(res.File, []byte(s)) {
			t.Errorf("the file holds the secret %q", s)
		}
	}
	// Not importable: in the report and as comments.
	for _, want := range []string{
		`RoleBinding "oncall-root" in namespace "payments" binds ClusterRole "cluster-admin"`,
		`grants ClusterRole "view" to User ` + quote(hostileUser),
		`grants ClusterRole "edit" to ServiceAccount "ci"`,
		`label "pod-security.kubernetes.io/enforce"="restricted"`,
		`namespace "other" is outside tenant payments's prefix`,
		`hard "services"="10"`,
		`config "unclean.leader.election.enable"="true"`,
		`kafka.topics."payments.ledger".configs."retention.ms": the platform refuses it: retention.ms -1 sets no limit`,
		`ACL of "User:analytics.etl"`,
		`plugin "pre-function" on service "payments-api"`,
		`consumer "payments-partner" has 1 basic-auth credential(s)`,
		`namespace "payments" on cluster "us-east" has other labels, annotations, quota or limit range than on "eu-west"`,
		`kong.services."payments-api".routes."payments-legacy": the platform refuses it: path "/legacy" is outside tenant payments's prefix "/payments"`,
	} {
		found := false
		for _, n := range res.NotImportable {
			found = found || strings.Contains(n, want)
		}
		if !found {
			t.Errorf("report lacks %q", want)
		}
		if !bytes.Contains(res.File, []byte(want)) {
			t.Errorf("file lacks the comment %q", want)
		}
	}
	checkLiterals(t, res.File, hostileAnnotation, hostileHeader)
	for _, want := range []string{
		`clusters: ["eu-west", "us-east"]`,
		`{group: "payments-oncall", role: "admin"}`,
		`// Group "payments-oncall" has ClusterRole "admin" in namespace "payments" on "us-east" only`,
	} {
		if !bytes.Contains(res.File, []byte(want)) {
			t.Errorf("file lacks %q", want)
		}
	}
}

// checkLiterals parses file and checks that each hostile value is the
// whole of one string literal, that no comment spans lines, and that the
// top-level fields are the tenant's only.
func checkLiterals(t *testing.T, file []byte, values ...string) {
	t.Helper()
	f, err := parser.ParseFile("tenant.cue", file, parser.ParseComments)
	if err != nil {
		t.Fatalf("the file is not CUE: %v", err)
	}
	var top []string
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.Field); ok {
			l, _, _ := ast.LabelName(fd.Label)
			top = append(top, l)
		}
	}
	if got, want := strings.Join(top, ","), "owners,kubernetes,kafka,kong,policies"; got != want {
		t.Errorf("top-level fields %s, want %s", got, want)
	}
	seen := map[string]bool{}
	ast.Walk(f, func(n ast.Node) bool {
		if bl, ok := n.(*ast.BasicLit); ok {
			if s, err := literal.Unquote(bl.Value); err == nil {
				seen[s] = true
			}
		}
		return true
	}, nil)
	for _, v := range values {
		if !seen[v] {
			t.Errorf("no string literal is exactly %q", v)
		}
	}
	for _, line := range strings.Split(string(file), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.Contains(line, "//") && !strings.HasPrefix(trimmed, "//") && !strings.Contains(line, `"`) {
			t.Errorf("unexpected line %q", line)
		}
	}
	if strings.Contains(string(file), "adopt: false") && !strings.Contains(string(file), `adopt: false\n`) {
		t.Errorf("a hostile value wrote adopt: false outside a literal")
	}
}
