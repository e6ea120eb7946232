package kong

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	gokong "github.com/kong/go-kong/kong"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// notInInventory is what plan.NotOwned says of a desired entity held by
// an entity that carries the tenant's tags but that the tenant's
// inventory does not list.
const notInInventory = "tagged for this tenant but not in its inventory: made out of band, orphaned earlier, or the state was lost"

// placeholder is the record written ahead of a create (writeAhead): the
// entity may exist, so it is owned, but k3sync does not know yet what it
// applied. It is neither a base for drift nor proof of an earlier apply.
var placeholder = json.RawMessage(`{}`)

// isPlaceholder reports whether a record is a placeholder.
func isPlaceholder(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), placeholder)
}

// applied reports whether the inventory has a record, not a placeholder,
// of the entity id: k3sync applied it before.
func applied(e state.Entry, id string) bool {
	raw, ok := e.Resources[id]
	return ok && !isPlaceholder(raw)
}

// keySumField is the field of a key-auth credential's record holding the
// SHA-256 digest, hex-encoded, of the key k3sync created. The key itself
// is never kept; 256 random bits cannot be found from their digest.
const keySumField = "keySHA256"

// keySum is the digest of a key-auth key as records hold it.
func keySum(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// recordedKeySum is the digest of the key k3sync created, from the
// credential's record id; "" when none is recorded (a placeholder, or a
// record written before k3sync recorded digests).
func recordedKeySum(e state.Entry, id string) string {
	var doc struct {
		Sum string `json:"keySHA256"`
	}
	if raw, ok := e.Resources[id]; ok && json.Unmarshal(raw, &doc) == nil {
		return doc.Sum
	}
	return ""
}

// claim keeps in the tenant's slice of the gateway only what its
// inventory owns: an entity carrying the tenant's tags that the inventory
// does not list (made out of band with those tags, orphaned earlier, or
// the state was lost) leaves the slice, with whatever hangs off it, so
// that no diff ever deletes, changes or records it. Its ID goes to
// tp.unowned: when the tenant desires it, notOwned blocks it.
//
// A key-auth credential is owned when its consumer is and the inventory
// lists the consumer's credential; its key is checked against the
// recorded digest at plan time (planCredentials).
func claim(tp *tenantPlan) {
	raw := &tp.live.raw
	owns := func(kind, name string) bool { return tp.entry.Owns(entityID(kind, name)) }
	unowned := map[string]bool{}
	drop := func(kind, name string) bool {
		unowned[entityID(kind, name)] = true
		return true
	}
	// IDs of the parents that stay, and the names of every entity of the
	// slice, for the references of their children.
	kept := map[string]bool{}
	names := map[string]string{}
	for _, e := range raw.Services {
		names[str(e.ID)] = str(e.Name)
	}
	for _, e := range raw.Routes {
		names[str(e.ID)] = str(e.Name)
	}
	for _, e := range raw.Consumers {
		names[str(e.ID)] = str(e.Username)
	}
	for _, e := range raw.Upstreams {
		names[str(e.ID)] = str(e.Name)
	}
	name := func(id *string) string {
		if n, ok := names[str(id)]; ok {
			return n
		}
		return str(id)
	}
	// A child stays when its parent does, or when its parent is not the
	// tenant's at all (the syncer never sees that parent either way).
	parentKept := func(id *string) bool {
		_, known := names[str(id)]
		return !known || kept[str(id)]
	}
	keep := func(id *string, ok bool) bool {
		if ok {
			kept[str(id)] = true
		}
		return !ok
	}

	raw.Services = deleteFunc(raw.Services, func(e *gokong.Service) bool {
		return keep(e.ID, owns(KindService, str(e.Name))) && drop(KindService, str(e.Name))
	})
	raw.Upstreams = deleteFunc(raw.Upstreams, func(e *gokong.Upstream) bool {
		return keep(e.ID, owns(KindUpstream, str(e.Name))) && drop(KindUpstream, str(e.Name))
	})
	raw.Consumers = deleteFunc(raw.Consumers, func(e *gokong.Consumer) bool {
		return keep(e.ID, owns(KindConsumer, str(e.Username))) && drop(KindConsumer, str(e.Username))
	})
	raw.Routes = deleteFunc(raw.Routes, func(e *gokong.Route) bool {
		n := str(e.Name)
		ok := owns(KindRoute, n) && (e.Service == nil || parentKept(e.Service.ID))
		return keep(e.ID, ok) && drop(KindRoute, n)
	})
	raw.Targets = deleteFunc(raw.Targets, func(e *gokong.Target) bool {
		up := ""
		var upID *string
		if e.Upstream != nil {
			up, upID = name(e.Upstream.ID), e.Upstream.ID
		}
		n := up + "/" + str(e.Target)
		return (!owns(KindTarget, n) || !parentKept(upID)) && drop(KindTarget, n)
	})
	raw.ACLGroups = deleteFunc(raw.ACLGroups, func(e *gokong.ACLGroup) bool {
		c := ""
		var cID *string
		if e.Consumer != nil {
			c, cID = name(e.Consumer.ID), e.Consumer.ID
		}
		n := c + "/" + str(e.Group)
		return (!owns(KindACLGroup, n) || !parentKept(cID)) && drop(KindACLGroup, n)
	})
	raw.Plugins = deleteFunc(raw.Plugins, func(e *gokong.Plugin) bool {
		var parents []*string
		var service, route, consumer string
		if e.Service != nil {
			parents, service = append(parents, e.Service.ID), name(e.Service.ID)
		}
		if e.Route != nil {
			parents, route = append(parents, e.Route.ID), name(e.Route.ID)
		}
		if e.Consumer != nil {
			parents, consumer = append(parents, e.Consumer.ID), name(e.Consumer.ID)
		}
		n := pluginKey(service, route, consumer, str(e.Name))
		return (!owns(KindPlugin, n) || slices.ContainsFunc(parents, func(p *string) bool { return !parentKept(p) })) && drop(KindPlugin, n)
	})
	tp.live.keyAuths = deleteFunc(tp.live.keyAuths, func(k *gokong.KeyAuth) bool {
		if k.Consumer == nil {
			return true
		}
		n := name(k.Consumer.ID) + "/key-auth"
		_, known := names[str(k.Consumer.ID)]
		return (!known || !kept[str(k.Consumer.ID)] || !owns(KindCredential, n)) && drop(KindCredential, n)
	})
	tp.unowned = unowned
}

// deleteFunc is slices.DeleteFunc on a copy: the live read is shared.
func deleteFunc[E any](es []E, del func(E) bool) []E {
	var out []E
	for _, e := range es {
		if !del(e) {
			out = append(out, e)
		}
	}
	return out
}

// writeAhead saves the tenant's inventory with a placeholder record for
// every entity the apply is about to create or adopt that it has no
// record of,
// before anything is created: a crash, or a create whose answer is lost,
// can then never leave an entity k3sync made and does not own. A create
// that fails keeps its placeholder (records keeps the record of a change
// not made): the next plan owns whatever the failed create may have made,
// and plans it again when nothing was. A dry run writes nothing.
func (t *Target) writeAhead(ctx context.Context, tp *tenantPlan, revision string, dry bool) error {
	if dry {
		return nil
	}
	e := tp.entry.Clone()
	added := false
	for _, it := range tp.items {
		if it.change.Action != plan.Create && it.change.Action != plan.Adopt {
			continue
		}
		if id := entityID(it.change.Kind, it.change.Name); !e.Owns(id) {
			e.Resources[id] = placeholder
			added = true
		}
	}
	if !added {
		return nil
	}
	if e.Revision == "" {
		e.Revision = revision
	}
	e.UpdatedAt = t.now()
	if err := t.store.Save(ctx, e); err != nil {
		return fmt.Errorf("write ahead: %w", err)
	}
	tp.entry = e
	return nil
}
