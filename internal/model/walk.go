package model

// EachPlugin calls f with every Kong plugin of the tenant: on services,
// routes and consumers.
func (t *Tenant) EachPlugin(f func(*KongPlugin)) {
	if t.Kong == nil {
		return
	}
	each := func(ps map[string]*KongPlugin) {
		for _, p := range ps {
			if p != nil {
				f(p)
			}
		}
	}
	for _, s := range t.Kong.Services {
		each(s.Plugins)
		for _, r := range s.Routes {
			each(r.Plugins)
		}
	}
	for _, c := range t.Kong.Consumers {
		each(c.Plugins)
	}
}
