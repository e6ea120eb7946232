package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/k3sync/k3sync/internal/render"
)

// Rotate gives a SCRAM user k3sync owns a new generated password: it is
// delivered to the sink, then set in Kafka with the mechanism and
// iterations k3sync last applied. The old password stops working at once.
func (t *Target) Rotate(ctx context.Context, tenant, user string) error {
	e, err := t.store.Load(ctx, tenant, t.stateID)
	if err != nil {
		return fmt.Errorf("kafka user %s: rotate: %w", user, err)
	}
	raw, ok := e.Resources[inventoryID(kindUser, user)]
	if !ok {
		return fmt.Errorf("kafka user %s: rotate: tenant %s: %w", user, tenant, ErrNotOwned)
	}
	u := decode[render.KafkaUser](raw)
	if u == nil {
		return fmt.Errorf("kafka user %s: rotate: last applied state is unreadable: apply first", user)
	}
	mech, err := scramMechanism(u.Mechanism)
	if err != nil {
		return fmt.Errorf("kafka user %s: rotate: %w", user, err)
	}
	password, err := newPassword()
	if err != nil {
		return fmt.Errorf("kafka user %s: rotate: %w", user, err)
	}
	if err := t.deliver(ctx, tenant, user, u.Mechanism, password); err != nil {
		return fmt.Errorf("kafka user %s: rotate: %w", user, err)
	}
	upsert := []kadm.UpsertSCRAM{{User: user, Mechanism: mech, Iterations: u.Iterations, Password: password}}
	resp, err := t.admin.AlterUserSCRAMs(ctx, nil, upsert)
	clear(upsert)
	if err != nil {
		return fmt.Errorf("kafka user %s: rotate: %w", user, err)
	}
	if r, ok := resp[user]; ok && r.Err != nil {
		return fmt.Errorf("kafka user %s: rotate: %w", user, scramError(r))
	}
	return nil
}
