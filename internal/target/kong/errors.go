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
	// ErrBlocked is the error of a blocked change's result: k3sync refused
	// it at plan time (see the change's notes). Blocked changes are not
	// failures of the apply and are not in an ApplyError.
	ErrBlocked = errors.New("blocked")
	// ErrNotOwned: the entity does not carry the tenant's k3sync tags, so
	// k3sync will not act on it.
	ErrNotOwned = errors.New("not owned by k3sync for this tenant")
	// ErrNoSink: a key would be generated but there is no CredentialSink
	// to deliver it to, so none is made.
	ErrNoSink = errors.New("no credential sink to deliver the key to")
	// ErrNotAttempted: an earlier change of the same tenant failed and
	// go-database-reconciler's syncer stopped before this one.
	ErrNotAttempted = errors.New("not attempted: an earlier change of the tenant failed")
)

// ApplyError is an apply where some changes failed. The other changes were
// made; Failed has the results of those that were not, each with its own
// error. errors.Is and errors.As see every change's error.
type ApplyError struct {
	// Gateway is the gateway name.
	Gateway string
	// Total is how many changes the apply tried.
	Total  int
	Failed []plan.Result
}

func (e *ApplyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kong gateway %s: %d of %d changes failed", e.Gateway, len(e.Failed), e.Total)
	for i, r := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(r.Error)
	}
	return b.String()
}

// Unwrap returns each failed change's error.
func (e *ApplyError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, r := range e.Failed {
		errs[i] = r.Err
	}
	return errs
}

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
// adopts an entity that lacks its tags.
func itemError(c plan.Change, err error) error {
	var api *gokong.APIError
	if c.Action == plan.Create && errors.As(err, &api) && api.Code() == http.StatusConflict {
		return fmt.Errorf("kong %s %s: %s: %w (an entity with this name exists without the tenant's k3sync tags; k3sync does not adopt it)", c.Kind, c.Name, c.Action, err)
	}
	return fmt.Errorf("kong %s %s: %s: %w", c.Kind, c.Name, c.Action, err)
}
