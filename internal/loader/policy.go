package loader

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"cuelang.org/go/cue"

	"github.com/k3sync/k3sync/internal/kafkaspec"
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
	for _, t := range repo.Tenants {
		tc := &tenantCheck{l: l, p: &repo.Platform, t: t, claims: c}
		tc.policies()
		tc.kubernetes()
		tc.kafka()
		tc.kong()
	}
	l.checkCapacity(repo)
}

// tenantCheck checks one tenant.
type tenantCheck struct {
	l      *loader
	p      *model.Platform
	t      *model.Tenant
	claims *claims
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
	if pol.DriftSchedule != "" {
		if _, err := CronParser.Parse(pol.DriftSchedule); err != nil {
			c.errorf(p("policies", "driftSchedule"), "invalid cron schedule %q: %v", pol.DriftSchedule, err)
		}
	}
	for i, w := range pol.SyncWindows {
		at := p("policies", "syncWindows", fmt.Sprint(i))
		if _, err := CronParser.Parse(w.Schedule); err != nil {
			c.errorf(append(at, "schedule"), "invalid cron schedule %q: %v", w.Schedule, err)
		}
		if d, err := time.ParseDuration(w.Duration); err != nil || d <= 0 {
			c.errorf(append(at, "duration"), "invalid duration %q", w.Duration)
		}
	}
}

func (c *tenantCheck) kubernetes() {
	k := c.t.Kubernetes
	if k == nil {
		return
	}
	name := c.t.Name
	for i, cl := range k.Clusters {
		if _, ok := c.p.Clusters[cl]; !ok {
			c.errorf(p("kubernetes", "clusters", fmt.Sprint(i)), "cluster %q is not defined in platform.cue (known: %s)", cl, keys(c.p.Clusters))
		}
	}
	if n, limit := len(k.Namespaces), c.p.Policy.Limits.MaxNamespacesPerTenant; n > limit {
		c.errorf(p("kubernetes", "namespaces"), "%d namespaces, the platform allows at most %d per tenant", n, limit)
	}
	for _, nsName := range sortedKeys(k.Namespaces) {
		ns := k.Namespaces[nsName]
		at := p("kubernetes", "namespaces", nsName)
		if nsName != name && !strings.HasPrefix(nsName, name+"-") {
			c.errorf(at, "namespace %q is outside tenant %s's prefix: use %q or %q", nsName, name, name, name+"-…")
		}
		for _, cl := range k.Clusters {
			c.claims.claim(c, at, "namespace", cl+"/"+nsName, fmt.Sprintf("namespace %q on cluster %s", nsName, cl))
		}
		c.quantities(at, ns)
		for key := range ns.Labels {
			if strings.HasPrefix(key, "k3sync.io/") || key == "app.kubernetes.io/managed-by" {
				c.errorf(append(at, "labels", key), "label %q is reserved for k3sync", key)
			}
		}
	}
	for i, g := range k.Access {
		for j, ns := range g.Namespaces {
			if _, ok := k.Namespaces[ns]; !ok {
				c.errorf(p("kubernetes", "access", fmt.Sprint(i), "namespaces", fmt.Sprint(j)), "namespace %q is not one of tenant %s's namespaces", ns, name)
			}
		}
	}
}

func (c *tenantCheck) quantities(at []string, ns *model.Namespace) {
	check := func(field []string, q string) {
		if q == "" {
			return
		}
		if _, err := resource.ParseQuantity(q); err != nil {
			c.errorf(append(slices.Clone(at), field...), "invalid quantity %q: %v", q, err)
		}
	}
	check(p("quota", "requests", "cpu"), ns.Quota.Requests.CPU)
	check(p("quota", "requests", "memory"), ns.Quota.Requests.Memory)
	if l := ns.Quota.Limits; l != nil {
		check(p("quota", "limits", "cpu"), l.CPU)
		check(p("quota", "limits", "memory"), l.Memory)
		c.atLeast(at, "quota.limits.cpu", l.CPU, ns.Quota.Requests.CPU)
		c.atLeast(at, "quota.limits.memory", l.Memory, ns.Quota.Requests.Memory)
	}
	if lr := ns.LimitRange; lr != nil {
		for field, r := range map[string]*model.Resources{"defaultRequest": lr.DefaultRequest, "default": lr.Default, "max": lr.Max} {
			if r != nil {
				check(p("limitRange", field, "cpu"), r.CPU)
				check(p("limitRange", field, "memory"), r.Memory)
			}
		}
	}
}

// atLeast reports a limit below its request.
func (c *tenantCheck) atLeast(at []string, field, limit, request string) {
	l, err1 := resource.ParseQuantity(limit)
	r, err2 := resource.ParseQuantity(request)
	if limit == "" || err1 != nil || err2 != nil {
		return
	}
	if l.Cmp(r) < 0 {
		c.errorf(append(slices.Clone(at), strings.Split(field, ".")...), "limit %s is below the request %s", limit, request)
	}
}

func (c *tenantCheck) kafka() {
	k := c.t.Kafka
	if k == nil {
		return
	}
	name := c.t.Name
	prefix := name + "."
	kc, ok := c.p.Kafka[k.Cluster]
	if !ok {
		c.errorf(p("kafka", "cluster"), "Kafka cluster %q is not defined in platform.cue (known: %s)", k.Cluster, keys(c.p.Kafka))
	}
	if n, limit := len(k.Topics), c.p.Policy.Limits.MaxTopicsPerTenant; n > limit {
		c.errorf(p("kafka", "topics"), "%d topics, the platform allows at most %d per tenant", n, limit)
	}
	for _, tn := range sortedKeys(k.Topics) {
		topic := k.Topics[tn]
		at := p("kafka", "topics", tn)
		if err := kafkaspec.ValidateTopicName(tn); err != nil {
			c.errorf(at, "%v", err)
		}
		if !strings.HasPrefix(tn, prefix) {
			c.errorf(at, "topic %q is outside tenant %s's prefix %q", tn, name, prefix)
		}
		c.claims.claim(c, at, "topic", k.Cluster+"/"+kafkaspec.CollisionKey(tn), fmt.Sprintf("topic %q on Kafka cluster %s (Kafka treats '.' and '_' alike)", tn, k.Cluster))
		if !ok {
			continue
		}
		if parts := c.p.TopicPartitions(topic); parts > kc.Limits.MaxPartitionsPerTopic {
			c.errorf(append(at, "partitions"), "%d partitions, Kafka cluster %s allows at most %d per topic", parts, kc.Name, kc.Limits.MaxPartitionsPerTopic)
		}
		if rf := c.p.TopicReplication(kc.Name, topic); rf > kc.Limits.MaxReplicationFactor {
			c.errorf(append(at, "replication"), "replication factor %d, Kafka cluster %s allows at most %d", rf, kc.Name, kc.Limits.MaxReplicationFactor)
		}
		for _, key := range sortedKeys(topic.Configs) {
			value := topic.Configs[key]
			if err := kafkaspec.ValidateTopicConfig(key, value); err != nil {
				c.errorf(append(at, "configs", key), "%v", err)
				continue
			}
			if !slices.Contains(kc.Limits.AllowedConfigKeys, key) {
				c.errorf(append(at, "configs", key), "config %q is not allowed on Kafka cluster %s (allowed: %s)", key, kc.Name, strings.Join(kc.Limits.AllowedConfigKeys, ", "))
			}
		}
		if mir, ok := topic.Configs["min.insync.replicas"]; ok {
			if n, err := parseInt(mir); err == nil && n > int64(c.p.TopicReplication(kc.Name, topic)) {
				c.errorf(append(at, "configs", "min.insync.replicas"), "min.insync.replicas %d exceeds the replication factor %d: producers with acks=all would always fail", n, c.p.TopicReplication(kc.Name, topic))
			}
		}
	}
	if len(k.Users) > 0 && !c.hasNamespaces() {
		c.errorf(p("kafka", "users"), "SCRAM users need a Kubernetes namespace of tenant %s to receive their passwords as Secrets", name)
	}
	for _, un := range sortedKeys(k.Users) {
		u := k.Users[un]
		at := p("kafka", "users", un)
		if err := kafkaspec.ValidateUserName(un); err != nil {
			c.errorf(at, "%v", err)
		}
		if !strings.HasPrefix(un, prefix) {
			c.errorf(at, "user %q is outside tenant %s's prefix %q", un, name, prefix)
		}
		c.claims.claim(c, at, "kafka user", k.Cluster+"/"+un, fmt.Sprintf("Kafka user %q on %s", un, k.Cluster))
		for i, acl := range u.ACLs {
			c.acl(append(at, "acls", fmt.Sprint(i)), prefix, acl)
		}
	}
}

func (c *tenantCheck) acl(at []string, prefix string, acl model.KafkaACL) {
	for j, op := range acl.Operations {
		if err := kafkaspec.ValidateACLOperation(acl.Resource, op); err != nil {
			c.errorf(append(slices.Clone(at), "operations", fmt.Sprint(j)), "%v", err)
		}
	}
	nameAt := append(slices.Clone(at), "name")
	switch acl.Resource {
	case "cluster":
		if acl.Name != kafkaspec.ClusterResourceName || acl.Pattern != "literal" {
			c.errorf(nameAt, "the cluster resource is named %q with a literal pattern", kafkaspec.ClusterResourceName)
		}
		return
	case "topic":
		var err error
		if acl.Pattern == "prefixed" {
			err = kafkaspec.ValidatePrefix(acl.Name)
		} else {
			err = kafkaspec.ValidateTopicName(acl.Name)
		}
		if err != nil {
			c.errorf(nameAt, "%v", err)
		}
	}
	if !strings.HasPrefix(acl.Name, prefix) {
		c.errorf(nameAt, "%s %q is outside tenant %s's prefix %q", acl.Resource, acl.Name, c.t.Name, prefix)
	}
}

func (c *tenantCheck) kong() {
	k := c.t.Kong
	if k == nil {
		return
	}
	name := c.t.Name
	if _, ok := c.p.Gateways[k.Gateway]; !ok {
		c.errorf(p("kong", "gateway"), "gateway %q is not defined in platform.cue (known: %s)", k.Gateway, keys(c.p.Gateways))
	}
	if n, limit := len(k.Services), c.p.Policy.Limits.MaxServicesPerTenant; n > limit {
		c.errorf(p("kong", "services"), "%d services, the platform allows at most %d per tenant", n, limit)
	}
	entity := func(at []string, kind, n string) {
		if n != name && !strings.HasPrefix(n, name+"-") {
			c.errorf(at, "%s %q is outside tenant %s's prefix %q", kind, n, name, name+"-")
		}
		c.claims.claim(c, at, "kong "+kind, k.Gateway+"/"+kind+"/"+n, fmt.Sprintf("Kong %s %q on gateway %s", kind, n, k.Gateway))
	}
	for _, sn := range sortedKeys(k.Services) {
		s := k.Services[sn]
		at := p("kong", "services", sn)
		entity(at, "service", sn)
		c.serviceURL(append(at, "url"), s.URL)
		for _, rn := range sortedKeys(s.Routes) {
			r := s.Routes[rn]
			rat := append(slices.Clone(at), "routes", rn)
			entity(rat, "route", rn)
			for i, path := range r.Paths {
				if path != "/"+name && !strings.HasPrefix(path, "/"+name+"/") {
					c.errorf(append(slices.Clone(rat), "paths", fmt.Sprint(i)), "path %q is outside tenant %s's prefix %q", path, name, "/"+name)
				}
				hosts := r.Hosts
				if len(hosts) == 0 {
					hosts = []string{"*"}
				}
				for _, h := range hosts {
					c.claims.claim(c, append(slices.Clone(rat), "paths", fmt.Sprint(i)), "route", k.Gateway+"/"+h+path, fmt.Sprintf("route path %s on host %s of gateway %s", path, h, k.Gateway))
				}
			}
		}
	}
	for _, cn := range sortedKeys(k.Consumers) {
		entity(p("kong", "consumers", cn), "consumer", cn)
		if k.Consumers[cn].KeyAuth && !c.hasNamespaces() {
			c.errorf(p("kong", "consumers", cn, "keyAuth"), "key-auth keys need a Kubernetes namespace of tenant %s to receive them as Secrets", name)
		}
	}
	for _, un := range sortedKeys(k.Upstreams) {
		at := p("kong", "upstreams", un)
		entity(at, "upstream", un)
		for i, tg := range k.Upstreams[un].Targets {
			host, _, err := net.SplitHostPort(tg.Target)
			if err != nil {
				host = tg.Target
			}
			if ns, ok := c.clusterService(host); !ok {
				c.errorf(append(slices.Clone(at), "targets", fmt.Sprint(i), "target"), "target %q must be a Service in one of tenant %s's namespaces (<service>.<namespace>.svc[.cluster.local])", tg.Target, name)
			} else if !c.ownsNamespace(ns) {
				c.errorf(append(slices.Clone(at), "targets", fmt.Sprint(i), "target"), "target %q points into namespace %q, which is not tenant %s's", tg.Target, ns, name)
			}
		}
	}
}

// serviceURL checks that a service proxies to the tenant's own upstream, a
// Service in the tenant's namespaces, or a host outside the cluster.
func (c *tenantCheck) serviceURL(at []string, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		c.errorf(at, "invalid url %q", raw)
		return
	}
	host := u.Hostname()
	if ns, ok := c.clusterService(host); ok {
		if !c.ownsNamespace(ns) {
			c.errorf(at, "url %q points into namespace %q, which is not tenant %s's", raw, ns, c.t.Name)
		}
		return
	}
	if !strings.Contains(host, ".") && net.ParseIP(host) == nil {
		if _, ok := c.t.Kong.Upstreams[host]; !ok {
			c.errorf(at, "url %q names upstream %q, which tenant %s does not define", raw, host, c.t.Name)
		}
	}
}

// clusterService returns the namespace of a cluster-local Service host name.
func (c *tenantCheck) clusterService(host string) (string, bool) {
	h := strings.TrimSuffix(strings.TrimSuffix(host, "."), ".cluster.local")
	parts := strings.Split(h, ".")
	if len(parts) == 3 && parts[2] == "svc" {
		return parts[1], true
	}
	return "", false
}

func (c *tenantCheck) hasNamespaces() bool {
	return c.t.Kubernetes != nil && len(c.t.Kubernetes.Namespaces) > 0
}

func (c *tenantCheck) ownsNamespace(ns string) bool {
	if c.t.Kubernetes == nil {
		return false
	}
	_, ok := c.t.Kubernetes.Namespaces[ns]
	return ok
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
				s.pods += ns.Quota.Pods
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

func parseInt(s string) (int64, error) {
	var n int64
	_, err := fmt.Sscan(strings.TrimSpace(s), &n)
	if err != nil {
		return 0, fmt.Errorf("parse %q: %w", s, err)
	}
	return n, nil
}
