package deploytest

import (
	"encoding/base64"
	"net"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/k3sync/k3sync/internal/config"
)

// install is one rendered installation.
type install struct {
	name string
	objs []*unstructured.Unstructured
}

func installs(t *testing.T) []install {
	t.Helper()
	out := []install{
		{"kustomize base", kustomize(t, kustomizeBase)},
		{"kustomize overlay", kustomize(t, kustomizeOverlay)},
	}
	c := loadChart(t, helmChart)
	for _, tc := range helmCases {
		out = append(out, install{"helm " + tc.name, renderCase(t, c, tc.values, "k3sync").objects(t)})
	}
	return out
}

func convert[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &v, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

// secretFiles lists every file the configuration reads.
func secretFiles(c *config.Config) []string {
	var out []string
	sec := func(s config.Secret) {
		for _, f := range []string{s.PasswordFile, s.TokenFile, s.SecretFile} {
			if f != "" {
				out = append(out, f)
			}
		}
	}
	tls := func(t *config.TLS) {
		if t != nil {
			for _, f := range []string{t.CAFile, t.CertFile, t.KeyFile} {
				if f != "" {
					out = append(out, f)
				}
			}
		}
	}
	for _, cl := range c.Clusters {
		out = append(out, cl.Kubeconfig)
	}
	for _, k := range c.Kafka {
		if k.SASL != nil {
			sec(k.SASL.Secret)
		}
		tls(k.TLS)
	}
	for _, g := range c.Gateways {
		sec(g.Secret)
		tls(g.TLS)
	}
	sec(c.Git.Secret)
	for _, f := range []string{c.Git.SSHKeyFile, c.Git.KnownHostsFile} {
		if f != "" {
			out = append(out, f)
		}
	}
	for _, tok := range c.Server.Tokens {
		sec(tok.Secret)
	}
	sec(c.Server.Webhooks.GitHub)
	sec(c.Server.Webhooks.Gitea)
	sort.Strings(out)
	return out
}

// TestManifests checks that the pieces of each installation fit: the
// configuration parses and every file it names is on a volume that has
// it, the clone is on a writable volume, state and Lease live where the
// RBAC allows, the Pod is locked down, and Service, PDB, ServiceMonitor
// and Ingress select what exists.
func TestManifests(t *testing.T) {
	for _, in := range installs(t) {
		t.Run(in.name, func(t *testing.T) {
			objs := in.objs
			dep := convert[appsv1.Deployment](t, find(t, objs, "Deployment", ""))
			ns := dep.Namespace
			pod := dep.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("want one container, got %d", len(pod.Containers))
			}
			ctr := pod.Containers[0]

			// k3sync's own namespace reaches the loader, which reserves it.
			podNS := false
			for _, e := range ctr.Env {
				if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
					podNS = true
				}
			}
			if !podNS {
				t.Error("the container does not get POD_NAMESPACE from metadata.namespace: tenants could claim k3sync's own namespace")
			}

			// The configuration.
			mounts := map[string]corev1.Volume{}
			for _, m := range ctr.VolumeMounts {
				for _, v := range pod.Volumes {
					if v.Name == m.Name {
						mounts[m.MountPath] = v
					}
				}
			}
			volumeOf := func(file string) (string, corev1.Volume, bool) {
				best := ""
				for mp := range mounts {
					if strings.HasPrefix(file, mp+"/") && len(mp) > len(best) {
						best = mp
					}
				}
				v, ok := mounts[best]
				return best, v, ok
			}
			cmName := ""
			if i := slices.Index(ctr.Args, "--config"); i >= 0 && i+1 < len(ctr.Args) {
				mp, v, ok := volumeOf(ctr.Args[i+1])
				if !ok || v.ConfigMap == nil || path.Join(mp, "k3sync.yaml") != ctr.Args[i+1] {
					t.Fatalf("--config %s is not k3sync.yaml of a ConfigMap volume", ctr.Args[i+1])
				}
				cmName = v.ConfigMap.Name
			} else {
				t.Fatalf("container args %v: no --config", ctr.Args)
			}
			cm := convert[corev1.ConfigMap](t, find(t, objs, "ConfigMap", cmName))
			cfg, err := config.Parse([]byte(cm.Data["k3sync.yaml"]))
			if err != nil {
				t.Fatalf("k3sync.yaml of ConfigMap %s: %v", cmName, err)
			}
			if in.name == "helm everything" && cfg.Git.MaxObjectBytes != 64<<20 {
				t.Errorf("git.maxObjectBytes 64Mi rendered as %d bytes", cfg.Git.MaxObjectBytes)
			}
			if in.name == "helm everything" && (cfg.State.QPS != 100 || cfg.State.Burst != 200) {
				t.Errorf("config.state {qps: 100, burst: 200} rendered as state.qps %v, state.burst %d", cfg.State.QPS, cfg.State.Burst)
			}
			secrets := map[string]*corev1.Secret{}
			for _, o := range objs {
				if o.GetKind() == "Secret" {
					secrets[o.GetName()] = convert[corev1.Secret](t, o)
				}
			}
			for _, f := range secretFiles(cfg) {
				mp, v, ok := volumeOf(f)
				key := strings.TrimPrefix(f, mp+"/")
				switch {
				case !ok:
					t.Errorf("k3sync.yaml reads %s, which no volume holds", f)
				case v.ConfigMap != nil:
					if _, ok := cm.Data[key]; !ok {
						t.Errorf("k3sync.yaml reads %s: ConfigMap %s has no key %s", f, cmName, key)
					}
				case v.Secret != nil:
					s, rendered := secrets[v.Secret.SecretName]
					if !rendered {
						continue // made by the operator (secrets.example.yaml, existingSecret)
					}
					if _, ok := s.Data[key]; !ok {
						t.Errorf("k3sync.yaml reads %s: Secret %s has no key %s", f, s.Name, key)
					}
				default:
					t.Errorf("k3sync.yaml reads %s from volume %s, neither ConfigMap nor Secret", f, v.Name)
				}
			}
			if _, v, ok := volumeOf(cfg.Git.Dir + "/x"); !ok || v.EmptyDir == nil {
				t.Errorf("git.dir %s is not on an emptyDir volume: the root filesystem is read-only", cfg.Git.Dir)
			}
			if kc, ok := cm.Data["in-cluster.kubeconfig"]; ok {
				k, err := clientcmd.Load([]byte(kc))
				if err != nil {
					t.Fatalf("in-cluster.kubeconfig: %v", err)
				}
				ctx := k.Contexts[k.CurrentContext]
				if ctx == nil || k.AuthInfos[ctx.AuthInfo].TokenFile != "/var/run/secrets/kubernetes.io/serviceaccount/token" ||
					k.Clusters[ctx.Cluster].CertificateAuthority != "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt" {
					t.Errorf("in-cluster.kubeconfig does not use the ServiceAccount's token and CA: %+v", k)
				}
			}
			host, port, err := net.SplitHostPort(cfg.Server.Listen)
			if err != nil || host != "" && host != "0.0.0.0" && host != "::" {
				t.Errorf("server.listen %q: the kubelet probes the Pod IP; listen on all interfaces", cfg.Server.Listen)
			}
			if len(ctr.Ports) != 1 || ctr.Ports[0].Name != "http" || port != "8080" || ctr.Ports[0].ContainerPort != 8080 {
				t.Errorf("container ports %+v do not match server.listen %s", ctr.Ports, cfg.Server.Listen)
			}
			for name, p := range map[string]*corev1.Probe{"liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "http" {
					t.Errorf("%s probe: want GET /healthz on port http (see deployment.yaml for why not /readyz), got %+v", name, p)
				}
			}

			// Shared state and leader election, where the Role allows.
			le := cfg.Reconcile.LeaderElection
			if cfg.State.Backend != "kubernetes" || cfg.State.Namespace != ns || cfg.State.Cluster != "in-cluster" {
				t.Errorf("state %+v: want backend kubernetes in-cluster in namespace %s, shared by the replicas", cfg.State, ns)
			}
			if le == nil || le.Cluster != "in-cluster" || le.Namespace != ns {
				t.Fatalf("reconcile.leaderElection %+v: want in-cluster in namespace %s", le, ns)
			}
			role := convert[rbacv1.Role](t, find(t, objs, "Role", ""))
			if role.Namespace != ns {
				t.Errorf("Role in %s, k3sync in %s", role.Namespace, ns)
			}
			leaseNamed := false
			for _, r := range role.Rules {
				leaseNamed = leaseNamed || slices.Contains(r.Resources, "leases") && slices.Contains(r.ResourceNames, le.Name) && slices.Contains(r.Verbs, "update")
			}
			if !leaseNamed {
				t.Errorf("the Role does not let k3sync update Lease %s", le.Name)
			}
			sa := pod.ServiceAccountName
			for _, kind := range []string{"RoleBinding", "ClusterRoleBinding"} {
				b := find(t, objs, kind, "")
				var subjects []rbacv1.Subject
				var ref rbacv1.RoleRef
				if kind == "RoleBinding" {
					rb := convert[rbacv1.RoleBinding](t, b)
					subjects, ref = rb.Subjects, rb.RoleRef
				} else {
					crb := convert[rbacv1.ClusterRoleBinding](t, b)
					subjects, ref = crb.Subjects, crb.RoleRef
				}
				want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}
				if diff := cmp.Diff(want, subjects); diff != "" {
					t.Errorf("%s subjects (-want +got):\n%s", kind, diff)
				}
				find(t, objs, ref.Kind, ref.Name)
			}

			// Locked down.
			psc, csc := pod.SecurityContext, ctr.SecurityContext
			if psc == nil || csc == nil || !deref(psc.RunAsNonRoot) || deref(psc.RunAsUser) != 65532 ||
				psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
				!deref(csc.ReadOnlyRootFilesystem) || deref(csc.AllowPrivilegeEscalation) || !deref(csc.RunAsNonRoot) ||
				csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0 {
				t.Errorf("security context: want non-root 65532 (the image's USER), read-only root, no privilege escalation, drop ALL, RuntimeDefault seccomp; got pod %+v container %+v", psc, csc)
			}
			if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v: want CPU and memory requests and a memory limit", ctr.Resources)
			}
			if deref(dep.Spec.Replicas) < 2 {
				t.Errorf("%d replicas: want at least 2 (one leader, one standby)", deref(dep.Spec.Replicas))
			}

			// Selectors select.
			podLabels := dep.Spec.Template.Labels
			matches := func(sel map[string]string) bool {
				for k, v := range sel {
					if podLabels[k] != v {
						return false
					}
				}
				return len(sel) > 0
			}
			svc := convert[corev1.Service](t, find(t, objs, "Service", ""))
			if !matches(svc.Spec.Selector) || svc.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("Service %s does not reach the pods: selector %v, target %s", svc.Name, svc.Spec.Selector, svc.Spec.Ports[0].TargetPort.String())
			}
			pdb := find(t, objs, "PodDisruptionBudget", "")
			if sel, _, _ := unstructured.NestedStringMap(pdb.Object, "spec", "selector", "matchLabels"); !matches(sel) {
				t.Errorf("PodDisruptionBudget selects %v, pods are %v", sel, podLabels)
			}
			for _, o := range objs {
				switch o.GetKind() {
				case "ServiceMonitor":
					sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
					for k, v := range sel {
						if svc.Labels[k] != v {
							t.Errorf("ServiceMonitor selects %v, the Service is labelled %v", sel, svc.Labels)
						}
					}
					eps, _, _ := unstructured.NestedSlice(o.Object, "spec", "endpoints")
					if len(eps) != 1 || eps[0].(map[string]any)["port"] != svc.Spec.Ports[0].Name || eps[0].(map[string]any)["path"] != "/metrics" {
						t.Errorf("ServiceMonitor endpoints %v: want port %s path /metrics", eps, svc.Spec.Ports[0].Name)
					}
				case "Ingress":
					rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
					for _, r := range rules {
						paths, _, _ := unstructured.NestedSlice(r.(map[string]any), "http", "paths")
						for _, p := range paths {
							name, _, _ := unstructured.NestedString(p.(map[string]any), "backend", "service", "name")
							port, _, _ := unstructured.NestedString(p.(map[string]any), "backend", "service", "port", "name")
							if name != svc.Name || port != svc.Spec.Ports[0].Name {
								t.Errorf("Ingress backend %s:%s, the Service is %s:%s", name, port, svc.Name, svc.Spec.Ports[0].Name)
							}
						}
					}
				}
			}
		})
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestRBACAgrees: the chart grants exactly what the kustomize base grants
// (which TestRBAC proves necessary and sufficient).
func TestRBACAgrees(t *testing.T) {
	base := kustomize(t, kustomizeBase)
	chart := renderCase(t, loadChart(t, helmChart), "", "k3sync").objects(t)
	for _, kind := range []string{"ClusterRole", "Role"} {
		want := find(t, base, kind, "k3sync")
		got := find(t, chart, kind, "k3sync")
		wr, _, _ := unstructured.NestedSlice(want.Object, "rules")
		gr, _, _ := unstructured.NestedSlice(got.Object, "rules")
		if diff := cmp.Diff(wr, gr); diff != "" {
			t.Errorf("%s rules, kustomize (-) and helm (+):\n%s", kind, diff)
		}
	}
}

// TestSecretsExample: the keys secrets.example.yaml documents are the
// files the base's k3sync.yaml reads from the k3sync-secrets Secret.
func TestSecretsExample(t *testing.T) {
	objs := kustomize(t, kustomizeBase)
	cm := convert[corev1.ConfigMap](t, find(t, objs, "ConfigMap", ""))
	cfg, err := config.Parse([]byte(cm.Data["k3sync.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	var reads []string
	for _, f := range secretFiles(cfg) {
		if k, ok := strings.CutPrefix(f, "/var/run/secrets/k3sync/"); ok {
			reads = append(reads, k)
		}
	}
	ex := decode(t, "secrets.example.yaml", mustRead(t, kustomizeBase+"/secrets.example.yaml"))
	s := convert[corev1.Secret](t, find(t, ex, "Secret", "k3sync-secrets"))
	var documented []string
	for k, v := range s.StringData {
		documented = append(documented, k)
		if !strings.HasPrefix(v, "<") {
			t.Errorf("secrets.example.yaml %s: %q looks like a value; keep placeholders in <angle brackets>", k, v)
		}
	}
	for _, v := range s.Data {
		t.Errorf("secrets.example.yaml has data %s: placeholders only, in stringData", base64.StdEncoding.EncodeToString(v))
	}
	sort.Strings(documented)
	if diff := cmp.Diff(reads, documented); diff != "" {
		t.Errorf("secret files k3sync.yaml reads (-) vs keys secrets.example.yaml documents (+):\n%s", diff)
	}
}
