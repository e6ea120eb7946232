package kubernetes

import (
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/k3sync/k3sync/internal/render"
)

// kind is a kind k3sync manages.
type kind struct {
	GVK        schema.GroupVersionKind
	Resource   string
	Namespaced bool
}

// GVR is the kind's resource.
func (k kind) GVR() schema.GroupVersionResource { return k.GVK.GroupVersion().WithResource(k.Resource) }

// kinds is the dependency table: a kind's level is its index; creates go
// top-down, deletes bottom-up.
var kinds = []kind{
	{GVK: schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, Resource: "namespaces"},
	{GVK: schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"}, Resource: "serviceaccounts", Namespaced: true},
	{GVK: schema.GroupVersionKind{Version: "v1", Kind: "ResourceQuota"}, Resource: "resourcequotas", Namespaced: true},
	{GVK: schema.GroupVersionKind{Version: "v1", Kind: "LimitRange"}, Resource: "limitranges", Namespaced: true},
	{GVK: schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"}, Resource: "rolebindings", Namespaced: true},
	{GVK: schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"}, Resource: "networkpolicies", Namespaced: true},
}

func init() {
	// The renderer's order must be this table's order.
	for i, k := range kinds {
		if render.KindOrder[i] != k.GVK.Kind {
			panic("kubernetes: kinds table and render.KindOrder disagree at " + k.GVK.Kind)
		}
	}
}

func kindByName(name string) (kind, int, bool) {
	i := slices.IndexFunc(kinds, func(k kind) bool { return k.GVK.Kind == name })
	if i < 0 {
		return kind{}, 0, false
	}
	return kinds[i], i, true
}

// groupVersions lists the API group versions of the managed kinds.
func groupVersions() []schema.GroupVersion {
	var out []schema.GroupVersion
	for _, k := range kinds {
		if gv := k.GVK.GroupVersion(); !slices.Contains(out, gv) {
			out = append(out, gv)
		}
	}
	return out
}
