package kong

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	gokong "github.com/kong/go-kong/kong"
)

// Rotate gives a consumer k3sync owns a new generated key-auth key: the
// new credential is created, the key delivered to the sink, its digest
// recorded in the tenant's inventory, then the consumer's other k3sync
// credentials are deleted, so the consumer always has a key that works
// and that the tenant has. When delivery fails the new credential is
// deleted again and the old keys stay. The consumer and its credential
// must be in the tenant's inventory (tags alone are no proof).
func (t *Target) Rotate(ctx context.Context, tenant, consumer string) error {
	s, err := t.connect(ctx)
	if err != nil {
		return err
	}
	credID := entityID(KindCredential, consumer+"/key-auth")
	entry, err := t.store.Load(ctx, tenant, t.stateID)
	if err != nil {
		return fmt.Errorf("kong consumer %s: rotate: state: %w", consumer, err)
	}
	if !entry.Owns(entityID(KindConsumer, consumer)) {
		return fmt.Errorf("kong consumer %s: rotate: tenant %s: %w", consumer, tenant, ErrNotOwned)
	}
	if !entry.Owns(credID) {
		return fmt.Errorf("kong consumer %s: rotate: k3sync made no key-auth credential for it: apply first", consumer)
	}
	c, err := s.client.Consumers.Get(ctx, gokong.String(consumer))
	if gokong.IsNotFoundErr(err) {
		return fmt.Errorf("kong consumer %s: rotate: tenant %s: %w", consumer, tenant, ErrNotOwned)
	}
	if err != nil {
		return fmt.Errorf("kong consumer %s: rotate: %w", consumer, err)
	}
	if tenantOf(c.Tags) != tenant {
		return fmt.Errorf("kong consumer %s: rotate: tenant %s: %w", consumer, tenant, ErrNotOwned)
	}
	var old []*gokong.KeyAuth
	for opt := (&gokong.ListOpt{Size: 1000}); opt != nil; {
		var page []*gokong.KeyAuth
		page, opt, err = s.client.KeyAuths.ListForConsumer(ctx, c.ID, opt)
		if err != nil {
			return fmt.Errorf("kong consumer %s: rotate: list key-auth: %w", consumer, err)
		}
		for _, k := range page {
			if tenantOf(k.Tags) == tenant {
				old = append(old, k)
			}
		}
	}
	if len(old) == 0 {
		return fmt.Errorf("kong consumer %s: rotate: k3sync made no key-auth credential for it: apply first", consumer)
	}
	key := newKey()
	created, err := createKey(ctx, s, tenant, consumer, key)
	if err != nil {
		return fmt.Errorf("kong consumer %s: rotate: %w", consumer, err)
	}
	if err := t.deliver(ctx, tenant, consumer, key); err != nil {
		// Roll back: the old keys are the ones the tenant has.
		undo := deleteKey(context.WithoutCancel(ctx), s, consumer, str(created.ID))
		return errors.Join(fmt.Errorf("kong consumer %s: rotate: %w", consumer, err), undo)
	}
	// Record the new key's digest before the old keys go: otherwise the
	// next plan would take the new key for one changed outside k3sync.
	var errs []error
	if err := t.recordKey(context.WithoutCancel(ctx), tenant, consumer, key); err != nil {
		// The old keys go all the same: the next plan finds the new key
		// not the recorded one and replaces it, delivering another.
		errs = append(errs, fmt.Errorf("kong consumer %s: rotate: record the new key: %w", consumer, err))
	}
	for _, k := range old {
		if err := deleteKey(ctx, s, consumer, str(k.ID)); err != nil {
			errs = append(errs, fmt.Errorf("kong consumer %s: rotate: old credential %s: %w", consumer, str(k.ID), err))
		}
	}
	return errors.Join(errs...)
}

// recordKey records the digest of a consumer's new key in the tenant's
// inventory, read afresh.
func (t *Target) recordKey(ctx context.Context, tenant, consumer, key string) error {
	entry, err := t.store.Load(ctx, tenant, t.stateID)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	rec, err := json.Marshal(map[string]any{"consumer": consumer, keySumField: keySum(key)})
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	entry = entry.Clone()
	entry.Resources[entityID(KindCredential, consumer+"/key-auth")] = rec
	entry.UpdatedAt = t.now()
	if err := t.store.Save(ctx, entry); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}
