package kong

import (
	"encoding/json"
	"fmt"

	"github.com/kong/go-database-reconciler/pkg/file"
	gokong "github.com/kong/go-kong/kong"

	"github.com/k3sync/k3sync/internal/render"
)

// content is a tenant's desired entities as a decK state file, the input
// of go-database-reconciler's file.Get. Key-auth credentials are left
// out: k3sync generates, delivers and rotates them itself. file.Get
// mutates its input, so every run builds the content afresh.
func content(k *render.KongResources) (*file.Content, error) {
	c := &file.Content{FormatVersion: "3.0"}
	if k == nil {
		return c, nil
	}
	routes := map[string][]*file.FRoute{}
	for _, r := range k.Routes {
		routes[r.Service] = append(routes[r.Service], &file.FRoute{Route: gokong.Route{
			Name:         gokong.String(r.Name),
			Paths:        ptrs(r.Paths),
			Methods:      ptrs(r.Methods),
			Hosts:        ptrs(r.Hosts),
			Protocols:    ptrs(r.Protocols),
			StripPath:    gokong.Bool(r.StripPath),
			PreserveHost: gokong.Bool(r.PreserveHost),
			Tags:         ptrs(r.Tags),
		}})
	}
	for _, s := range k.Services {
		svc := file.FService{Service: gokong.Service{
			Name:           gokong.String(s.Name),
			Protocol:       gokong.String(s.Protocol),
			Host:           gokong.String(s.Host),
			Port:           gokong.Int(s.Port),
			Retries:        s.Retries,
			ConnectTimeout: s.ConnectTimeout,
			ReadTimeout:    s.ReadTimeout,
			WriteTimeout:   s.WriteTimeout,
			Tags:           ptrs(s.Tags),
		}, Routes: routes[s.Name]}
		if s.Path != "" {
			svc.Path = gokong.String(s.Path)
		}
		c.Services = append(c.Services, svc)
	}
	for _, p := range k.Plugins {
		cfg, err := jsonConfig(p.Config)
		if err != nil {
			return nil, fmt.Errorf("kong plugin %s: config: %w", pluginName(p), err)
		}
		fp := file.FPlugin{Plugin: gokong.Plugin{
			Name:    gokong.String(p.Name),
			Enabled: gokong.Bool(p.Enabled),
			Config:  cfg,
			Tags:    ptrs(p.Tags),
		}}
		// Top-level plugins name their parent in the ID field, as in a
		// decK file; file.Get resolves it.
		if p.Service != "" {
			fp.Service = &gokong.Service{ID: gokong.String(p.Service)}
		}
		if p.Route != "" {
			fp.Route = &gokong.Route{ID: gokong.String(p.Route)}
		}
		if p.Consumer != "" {
			fp.Consumer = &gokong.Consumer{ID: gokong.String(p.Consumer)}
		}
		c.Plugins = append(c.Plugins, fp)
	}
	for _, cn := range k.Consumers {
		fc := file.FConsumer{Consumer: gokong.Consumer{
			Username: gokong.String(cn.Username),
			Tags:     ptrs(cn.Tags),
		}}
		if cn.CustomID != "" {
			fc.CustomID = gokong.String(cn.CustomID)
		}
		for _, g := range cn.ACLGroups {
			fc.ACLGroups = append(fc.ACLGroups, &gokong.ACLGroup{Group: gokong.String(g), Tags: ptrs(cn.Tags)})
		}
		c.Consumers = append(c.Consumers, fc)
	}
	for _, u := range k.Upstreams {
		fu := file.FUpstream{Upstream: gokong.Upstream{Name: gokong.String(u.Name), Tags: ptrs(u.Tags)}}
		if u.Algorithm != "" {
			fu.Algorithm = gokong.String(u.Algorithm)
		}
		for _, tg := range u.Targets {
			fu.Targets = append(fu.Targets, &file.FTarget{Target: gokong.Target{
				Target: gokong.String(tg.Target),
				Weight: gokong.Int(tg.Weight),
				Tags:   ptrs(u.Tags),
			}})
		}
		c.Upstreams = append(c.Upstreams, fu)
	}
	return c, nil
}

// ptrs is gokong.StringSlice that keeps nil nil.
func ptrs(in []string) []*string {
	if in == nil {
		return nil
	}
	return gokong.StringSlice(in...)
}

// jsonConfig is a plugin config as Kong answers it: numbers are float64
// after a JSON round trip, so desired and live compare equal.
func jsonConfig(in map[string]any) (gokong.Configuration, error) {
	out := gokong.Configuration{}
	if len(in) == 0 {
		return out, nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err //nolint:wrapcheck // wrapped by the caller
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err //nolint:wrapcheck // wrapped by the caller
	}
	return out, nil
}

// pluginName is the plan name of a desired plugin: parent kind, parent
// name and plugin name, e.g. service/payments-api/rate-limiting, or
// service/payments-api/consumer/payments-partner/rate-limiting.
func pluginName(p render.KongPlugin) string {
	return pluginKey(p.Service, p.Route, p.Consumer, p.Name)
}

// pluginKey names a plugin by its parents' names and its own.
func pluginKey(service, route, consumer, name string) string {
	switch {
	case service != "" && consumer != "":
		return "service/" + service + "/consumer/" + consumer + "/" + name
	case service != "":
		return "service/" + service + "/" + name
	case route != "":
		return "route/" + route + "/" + name
	case consumer != "":
		return "consumer/" + consumer + "/" + name
	}
	return "global/" + name
}
