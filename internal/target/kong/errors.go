package kong

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	gokong "github.com/kong/go-kong/kong"

	"github.com/k3sync/k3sync/internal/plan"
)

var (
	// ErrBlocked is plan.ErrBlocked, the error of a blocked change's
	// result, kept for callers.
	ErrBlocked = plan.ErrBlocked
	// ErrNotOwned: the entity is not in the tenant's inventory (or does
	// not carry the tenant's tags), so k3sync will not act on it.
	ErrNotOwned = errors.New("not owned by k3sync for this tenant")
	// ErrNoSink: a key would be generated but there is no CredentialSink
	// to deliver it to, so none is made.
	ErrNoSink = errors.New("no credential sink to deliver the key to")
	// ErrNotAttempted: an earlier change of the same tenant failed and
	// go-database-reconciler's syncer stopped before this one.
	ErrNotAttempted = errors.New("not attempted: an earlier change of the tenant failed")
)

// ApplyError is an apply where some changes failed (see plan.ApplyError).
type ApplyError = plan.ApplyError

// PlanError is a plan or apply where some tenants failed as a whole (see
// plan.PartialError); its Target is "kong gateway <name>".
type PlanError = plan.PartialError

// TenantError is one tenant's failure in a PlanError.
type TenantError = plan.TenantError

// RedactedError is an Admin API error about a key-auth key, with the key
// replaced by plan.Redacted: Kong repeats keys in its messages (a unique
// violation names the key). It does not unwrap, since the original error
// holds the key.
type RedactedError struct {
	// Status is the Admin API's HTTP status; 0 when it did not answer.
	Status  int
	message string
}

func (e *RedactedError) Error() string { return e.message }

// redact returns err with every occurrence of secret replaced.
func redact(err error, secret string) error {
	if err == nil {
		return nil
	}
	re := &RedactedError{message: err.Error()}
	if secret != "" {
		re.message = strings.ReplaceAll(re.message, secret, plan.Redacted)
	}
	var api *gokong.APIError
	if errors.As(err, &api) {
		re.Status = api.Code()
	}
	return re
}

// itemError is the error of a change the syncer failed to make, with a
// hint when Kong refused a create for a name already taken: k3sync never
// adopts an entity its inventory does not own.
func itemError(c plan.Change, err error) error {
	var api *gokong.APIError
	if c.Action == plan.Create && errors.As(err, &api) && api.Code() == http.StatusConflict {
		return fmt.Errorf("kong %s %s: %s: %w (an entity with this name exists that the tenant's inventory does not own; k3sync does not adopt it)", c.Kind, c.Name, c.Action, err)
	}
	return fmt.Errorf("kong %s %s: %s: %w", c.Kind, c.Name, c.Action, err)
}
