package kong

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	gokong "github.com/kong/go-kong/kong"

	"github.com/k3sync/k3sync/internal/render"
)

// keyBytes is the entropy of a generated key-auth key: 256 bits, 43
// characters of unpadded base64url.
const keyBytes = 32

// newKey generates a key-auth key.
func newKey() string {
	b := make([]byte, keyBytes)
	_, _ = rand.Read(b) // never fails: crypto/rand aborts the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// deliver hands a key to the sink. The key never appears in the error.
func (t *Target) deliver(ctx context.Context, tenant, consumer, key string) error {
	if t.sink == nil {
		return ErrNoSink
	}
	if err := t.sink.Deliver(ctx, tenant, consumer, key); err != nil {
		return fmt.Errorf("deliver: %w", redact(err, key))
	}
	return nil
}

// createKey creates a key-auth credential with the tenant's tags.
func createKey(ctx context.Context, s *session, tenant, consumer, key string) (*gokong.KeyAuth, error) {
	created, err := s.client.KeyAuths.Create(ctx, gokong.String(consumer), &gokong.KeyAuth{
		Key:  gokong.String(key),
		Tags: ptrs(render.Tags(tenant)),
	})
	if err != nil {
		return nil, fmt.Errorf("create: %w", redact(err, key))
	}
	return created, nil
}

// deleteKey deletes a key-auth credential by ID; one already gone is
// deleted.
func deleteKey(ctx context.Context, s *session, consumer, id string) error {
	err := s.client.KeyAuths.Delete(ctx, gokong.String(consumer), gokong.String(id))
	if err != nil && !gokong.IsNotFoundErr(err) {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}
