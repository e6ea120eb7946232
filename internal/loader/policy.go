package loader

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"cuelang.org/go/cue"

	"github.com/k3sync/k3sync/internal/model"
)

// CronParser parses drift schedules and sync windows: five fields, with
// descriptors such as @hourly and @every 5m.
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// checkPolicy runs the rules CUE cannot express: the tenant's prefixes,
// references to the platform, Kafka's own rules, and everything that spans
// tenants (conflicts, cluster capacity).
func (l *loader) checkPolicy(repo *model.Repo) {
	c := &claims{owners: map[string]claim{}}
	kube := l.kubernetesRules(&repo.Platform)
	kongRules := l.kongRules(repo, kube)
	l.checkKafkaGuardrails(&repo.Platform)
	names := make([]string, 0, len(repo.Tenants))
	for _, t := range repo.Tenants {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	for _, t := range repo.Tenants {
		// The checks of a tenant's definitions are bounded as its
		// evaluation is: the sandbox's watchdog sees them in progress.
		if l.progress != nil {
			l.progress(t.Dir, false)
		}
		if checking != nil {
			checking(t)
		}
		tc := &tenantCheck{l: l, p: &repo.Platform, t: t, claims: c, kube: kube, kongRules: kongRules, tenants: names}
		tc.policies()
		tc.kubernetes()
		tc.kafka()
		tc.kong()
		if l.progress != nil {
			l.progress(t.Dir, true)
		}
	}
	l.checkCapacity(repo)
}

// checking, when set, is called as the checks of each tenant start: the
// sandbox tests make them slow with it. Nil outside tests.
var checking func(t *model.Tenant)

// tenantCheck checks one tenant.
type tenantCheck struct {
	l      *loader
	p      *model.Platform
	t      *model.Tenant
	claims *claims
	// kube are the platform's Kubernetes guardrails, prepared once.
	kube *kubernetesRules
	// kongRules are the platform's Kong guardrails, prepared once.
	kongRules *kongRules
	// tenants are the repo's tenant names, sorted.
	tenants []string
}

// longerTenant returns the tenant whose name is longer than this tenant's
// and is s or a prefix of s ending in '-': "team-pay" for "team-pay-x" when
// checking tenant team. Such names are the longer tenant's.
func (c *tenantCheck) longerTenant(s string) string {
	var found string
	for _, other := range c.tenants[sort.SearchStrings(c.tenants, c.t.Name):] {
		if !strings.HasPrefix(other, c.t.Name) {
			break
		}
		if len(other) > len(c.t.Name) && (s == other || strings.HasPrefix(s, other+"-")) {
			found = other
		}
	}
	return found
}

// errorf reports an error at path (CUE selectors within the tenant's files).
func (c *tenantCheck) errorf(path []string, format string, args ...any) {
	c.l.errs.Addf(c.l.tenants[c.t.Name].locate(path), formatSelectors(path), format, args...)
}

// formatSelectors prints a path as CUE prints error paths: labels quoted
// where CUE would quote them, list indexes bare.
func formatSelectors(path []string) string {
	out := make([]string, len(path))
	for i, s := range path {
		if isIndex(s) {
			out[i] = s
		} else {
			out[i] = cue.MakePath(cue.Str(s)).String()
		}
	}
	return strings.Join(out, ".")
}

func p(elems ...string) []string { return elems }

func (c *tenantCheck) policies() {
	pol := c.t.Policies
	if pol.Adopt && !c.p.Policy.Adoption {
		c.errorf(p("policies", "adopt"), "the platform does not let tenants adopt existing resources (policy.adoption in platform.cue)")
	}
	if pol.DriftSchedule != "" {
		c.schedule(p("policies", "driftSchedule"), pol.DriftSchedule)
	}
	for i, w := range pol.SyncWindows {
		at := p("policies", "syncWindows", fmt.Sprint(i))
		c.schedule(append(at, "schedule"), w.Schedule)
		if d, err := time.ParseDuration(w.Duration); err != nil || d <= 0 {
			c.errorf(append(at, "duration"), "invalid duration %q", w.Duration)
		}
	}
}

// minTenantPeriod is how often a tenant's schedule may fire at most: as
// often as five cron fields can. "@every 1s" would have the daemon, which
// serves every tenant, check the tenant's drift (or wake for its sync
// window) every second.
const minTenantPeriod = time.Minute

// schedule checks a tenant's cron schedule: it parses, and fires at most
// once a minute.
func (c *tenantCheck) schedule(at []string, s string) {
	sched, err := CronParser.Parse(s)
	if err != nil {
		c.errorf(at, "invalid cron schedule %q: %v", s, err)
		return
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay < minTenantPeriod {
		c.errorf(at, "schedule %q fires every %s: a tenant's schedule may fire at most once a minute", s, every.Delay)
	}
}

// checkCapacity sums the namespaces' quota requests on every cluster.
func (l *loader) checkCapacity(repo *model.Repo) {
	type sum struct {
		cpu, mem resource.Quantity
		pods     int64
		last     *model.Tenant
	}
	sums := map[string]*sum{}
	for _, t := range repo.Tenants {
		if t.Kubernetes == nil {
			continue
		}
		for _, cl := range t.Kubernetes.Clusters {
			s := sums[cl]
			if s == nil {
				s = &sum{}
				sums[cl] = s
			}
			for _, ns := range t.Kubernetes.Namespaces {
				if q, err := resource.ParseQuantity(ns.Quota.Requests.CPU); err == nil {
					s.cpu.Add(q)
				}
				if q, err := resource.ParseQuantity(ns.Quota.Requests.Memory); err == nil {
					s.mem.Add(q)
				}
				// The schema bounds each quota; the sum saturates rather
				// than wrap past the check.
				s.pods = min(s.pods+ns.Quota.Pods, math.MaxInt64/2)
			}
			s.last = t
		}
	}
	for _, cl := range sortedKeys(sums) {
		s := sums[cl]
		c, ok := repo.Platform.Clusters[cl]
		if !ok {
			continue
		}
		at := l.platform.locate([]string{"clusters", cl, "capacity"})
		path := formatSelectors(p("clusters", cl, "capacity"))
		if capCPU, err := resource.ParseQuantity(c.Capacity.CPU); err == nil && s.cpu.Cmp(capCPU) > 0 {
			l.errs.Addf(at, path+".cpu", "tenants' quotas request %s CPU on cluster %s, more than its capacity %s", s.cpu.String(), cl, c.Capacity.CPU)
		}
		if capMem, err := resource.ParseQuantity(c.Capacity.Memory); err == nil && s.mem.Cmp(capMem) > 0 {
			l.errs.Addf(at, path+".memory", "tenants' quotas request %s memory on cluster %s, more than its capacity %s", s.mem.String(), cl, c.Capacity.Memory)
		}
		if s.pods > c.Capacity.Pods {
			l.errs.Addf(at, path+".pods", "tenants' quotas allow %d pods on cluster %s, more than its capacity %d", s.pods, cl, c.Capacity.Pods)
		}
	}
}

// claims records which tenant claimed each resource first.
type claims struct {
	owners map[string]claim
}

type claim struct {
	tenant string
	path   []string
}

// claim records key for the tenant, or reports the tenant that has it.
func (cs *claims) claim(c *tenantCheck, at []string, kind, key, what string) {
	k := kind + "\x00" + key
	if prev, ok := cs.owners[k]; ok {
		if prev.tenant == c.t.Name {
			c.errorf(at, "%s is declared twice by tenant %s", what, c.t.Name)
		} else {
			prevAt := c.l.tenants[prev.tenant].locate(prev.path)
			c.errorf(at, "%s is already claimed by tenant %s (%s)", what, prev.tenant, prevAt.File)
		}
		return
	}
	cs.owners[k] = claim{tenant: c.t.Name, path: slices.Clone(at)}
}

func keys[V any](m map[string]V) string {
	return strings.Join(sortedKeys(m), ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
