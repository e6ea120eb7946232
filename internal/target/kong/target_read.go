package kong

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kong/go-database-reconciler/pkg/dump"
	"github.com/kong/go-database-reconciler/pkg/file"
	"github.com/kong/go-database-reconciler/pkg/utils"
	gokong "github.com/kong/go-kong/kong"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/render"
)

// requestTimeout bounds one Admin API request.
const requestTimeout = time.Minute

// session is one conversation with the gateway: a client with the admin
// token read afresh and the Kong version it reported.
type session struct {
	client *gokong.Client
	// render holds the Kong version for go-database-reconciler's file.Get.
	render file.RenderConfig
	// transport is the client's, whose schema cache the plan memo reads.
	transport *sessionTransport
}

// connect reads the admin token and asks the gateway for its version.
func (t *Target) connect(ctx context.Context) (*session, error) {
	token, err := t.token.Value()
	if err != nil {
		return nil, fmt.Errorf("kong gateway %s: admin token: %w", t.name, err)
	}
	u, err := url.Parse(t.adminURL)
	if err != nil {
		return nil, fmt.Errorf("kong gateway %s: %w", t.name, err)
	}
	st := &sessionTransport{
		base:    t.transport,
		token:   token,
		origin:  u.Scheme + "://" + u.Host,
		schemas: strings.TrimRight(u.Path, "/") + "/schemas/",
		writes:  t.writes,
		cache:   map[string]*cachedResponse{},
	}
	hc := &http.Client{Timeout: requestTimeout, Transport: st}
	client, err := gokong.NewClient(gokong.String(t.adminURL), hc)
	if err != nil {
		return nil, fmt.Errorf("kong gateway %s: %w", t.name, err)
	}
	info, err := client.Info.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("kong gateway %s: %w", t.name, err)
	}
	if info.Configuration != nil && info.Configuration.Database == "off" {
		return nil, fmt.Errorf("kong gateway %s: runs DB-less: its Admin API cannot be written to", t.name)
	}
	version, err := utils.ParseKongVersion(info.Version)
	if err != nil {
		return nil, fmt.Errorf("kong gateway %s: version %q: %w", t.name, info.Version, err)
	}
	return &session{client: client, render: file.RenderConfig{KongVersion: version}, transport: st}, nil
}

// live is what carries k3sync's tag on the gateway, split by tenant tag.
type live struct {
	tenants map[string]*tenantLive
}

// tenantLive is one tenant's slice of the gateway. Key-auth credentials
// are kept apart: k3sync manages them itself, never through the syncer.
type tenantLive struct {
	raw      utils.KongRawState
	keyAuths []*gokong.KeyAuth
}

// empty reports whether the tenant has nothing on the gateway.
func (tl *tenantLive) empty() bool {
	r := &tl.raw
	return len(r.Services)+len(r.Routes)+len(r.Plugins)+len(r.Consumers)+len(r.ACLGroups)+
		len(r.Upstreams)+len(r.Targets)+len(tl.keyAuths) == 0
}

func (l *live) tenant(name string) *tenantLive {
	tl, ok := l.tenants[name]
	if !ok {
		tl = &tenantLive{}
		l.tenants[name] = tl
	}
	return tl
}

// readLive lists every entity kind k3sync manages once, selected by the
// k3sync tag (and the tenant's tag when only one tenant is asked for), and
// splits the result by tenant tag in memory. Targets are the exception
// Kong imposes: they are listed per upstream, for the upstreams of the
// tenants in scope.
func (t *Target) readLive(ctx context.Context, s *session, only string, inScope func(tenant string) bool) (*live, error) {
	tags := []string{render.TagManaged}
	if only != "" {
		tags = append(tags, render.TagTenantPref+only)
	}
	var (
		raw      utils.KongRawState
		keyAuths []*gokong.KeyAuth
	)
	g, gctx := errgroup.WithContext(ctx)
	list := func(kind string, fn func() error) {
		g.Go(func() error {
			if err := fn(); err != nil {
				return fmt.Errorf("kong gateway %s: list %s: %w", t.name, kind, err)
			}
			return nil
		})
	}
	list("services", func() error {
		var err error
		raw.Services, err = dump.GetAllServices(gctx, s.client, tags)
		return err //nolint:wrapcheck // list names the kind
	})
	list("routes", func() error {
		var err error
		raw.Routes, err = dump.GetAllRoutes(gctx, s.client, tags)
		return err //nolint:wrapcheck // list names the kind
	})
	list("plugins", func() error {
		var err error
		raw.Plugins, err = dump.GetAllPlugins(gctx, s.client, tags)
		return err //nolint:wrapcheck // list names the kind
	})
	list("consumers", func() error {
		var err error
		raw.Consumers, err = dump.GetAllConsumers(gctx, s.client, tags)
		return err //nolint:wrapcheck // list names the kind
	})
	list("upstreams", func() error {
		var err error
		raw.Upstreams, err = dump.GetAllUpstreams(gctx, s.client, tags)
		return err //nolint:wrapcheck // list names the kind
	})
	list("acls", func() error {
		var err error
		raw.ACLGroups, err = dump.GetAllACLGroups(gctx, s.client, tags)
		return err //nolint:wrapcheck // list names the kind
	})
	list("key-auths", func() error {
		var err error
		keyAuths, err = dump.GetAllKeyAuths(gctx, s.client, tags)
		return err //nolint:wrapcheck // list names the kind
	})
	if err := g.Wait(); err != nil {
		return nil, err //nolint:wrapcheck // wrapped per kind above
	}

	l := &live{tenants: map[string]*tenantLive{}}
	for _, e := range raw.Services {
		if tn := tenantOf(e.Tags); tn != "" {
			l.tenant(tn).raw.Services = append(l.tenant(tn).raw.Services, e)
		}
	}
	for _, e := range raw.Routes {
		if tn := tenantOf(e.Tags); tn != "" {
			l.tenant(tn).raw.Routes = append(l.tenant(tn).raw.Routes, e)
		}
	}
	for _, e := range raw.Plugins {
		if tn := tenantOf(e.Tags); tn != "" {
			l.tenant(tn).raw.Plugins = append(l.tenant(tn).raw.Plugins, e)
		}
	}
	for _, e := range raw.Consumers {
		if tn := tenantOf(e.Tags); tn != "" {
			l.tenant(tn).raw.Consumers = append(l.tenant(tn).raw.Consumers, e)
		}
	}
	for _, e := range raw.ACLGroups {
		if tn := tenantOf(e.Tags); tn != "" {
			l.tenant(tn).raw.ACLGroups = append(l.tenant(tn).raw.ACLGroups, e)
		}
	}
	for _, e := range keyAuths {
		if tn := tenantOf(e.Tags); tn != "" {
			l.tenant(tn).keyAuths = append(l.tenant(tn).keyAuths, e)
		}
	}
	var upstreams []*gokong.Upstream
	for _, e := range raw.Upstreams {
		if tn := tenantOf(e.Tags); tn != "" {
			l.tenant(tn).raw.Upstreams = append(l.tenant(tn).raw.Upstreams, e)
			if inScope(tn) {
				upstreams = append(upstreams, e)
			}
		}
	}
	targets, err := t.listTargets(ctx, s, upstreams, tags)
	if err != nil {
		return nil, err
	}
	for _, e := range targets {
		if tn := tenantOf(e.Tags); tn != "" {
			l.tenant(tn).raw.Targets = append(l.tenant(tn).raw.Targets, e)
		}
	}
	return l, nil
}

// listTargets lists the tagged targets of each upstream, concurrently.
func (t *Target) listTargets(ctx context.Context, s *session, upstreams []*gokong.Upstream, tags []string) ([]*gokong.Target, error) {
	slots := make([][]*gokong.Target, len(upstreams))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.concurrency)
	for i, u := range upstreams {
		g.Go(func() error {
			opt := &gokong.ListOpt{Size: 1000, Tags: gokong.StringSlice(tags...), MatchAllTags: true}
			for opt != nil {
				page, next, err := s.client.Targets.List(gctx, u.ID, opt)
				if err != nil {
					return fmt.Errorf("kong gateway %s: upstream %s: list targets: %w", t.name, str(u.Name), err)
				}
				slots[i] = append(slots[i], page...)
				opt = next
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err //nolint:wrapcheck // wrapped above
	}
	var out []*gokong.Target
	for _, page := range slots {
		out = append(out, page...)
	}
	return out, nil
}

// tenantOf is the tenant an entity's tags mark it for: the value of its
// k3sync-tenant: tag when it also carries the k3sync tag, else "". A mark
// selects what is read; only the tenant's inventory makes the entity the
// tenant's (claim).
func tenantOf(tags []*string) string {
	managed, tenant := false, ""
	for _, p := range tags {
		switch tag := str(p); {
		case tag == render.TagManaged:
			managed = true
		case tenant == "" && strings.HasPrefix(tag, render.TagTenantPref):
			tenant = strings.TrimPrefix(tag, render.TagTenantPref)
		}
	}
	if !managed {
		return ""
	}
	return tenant
}
