package kafka

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/k3sync/k3sync/internal/plan"
)

var (
	// ErrNotOwned: the resource is not in k3sync's inventory, so k3sync
	// will not act on it.
	ErrNotOwned = errors.New("not in k3sync's inventory")
	// ErrNoSink: a password was generated but there is no CredentialSink
	// to deliver it to, so it is not set.
	ErrNoSink = errors.New("no credential sink to deliver the password to")
)

// ApplyError is an apply where some changes failed (see plan.ApplyError).
type ApplyError = plan.ApplyError

// brokerError is the error of a per-resource error code, with the broker's
// message when it sent one; nil for success.
func brokerError(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil {
		return nil
	}
	if msg != nil && *msg != "" {
		return fmt.Errorf("%w: %s", err, *msg)
	}
	return err
}

// fail records that the part verb of the change failed. A broker's
// non-retriable answer is definitive, the change was not made, unless the
// answer leaves it open (a timeout, an unknown server error).
func (it *item) fail(verb string, err error) {
	it.errs = append(it.errs, fmt.Errorf("kafka %s %s: %s: %w", it.change.Kind, it.change.Name, verb, err))
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable && ke != kerr.RequestTimedOut && ke != kerr.UnknownServerError {
		it.definitive = true
	}
}

// refuse records that the change failed before anything was sent to
// Kafka: it was certainly not made.
func (it *item) refuse(verb string, err error) {
	it.fail(verb, err)
	it.definitive = true
}

// refuseAll is refuse for every item.
func refuseAll(items []*item, verb string, err error) {
	for _, it := range items {
		it.refuse(verb, err)
	}
}

// failAll records err on every item: the whole request failed.
func failAll(items []*item, verb string, err error) {
	for _, it := range items {
		it.fail(verb, err)
	}
}

// unanswered fails the items the broker's response said nothing about.
func unanswered(items []*item, seen map[*item]bool, verb string) {
	for _, it := range items {
		if !seen[it] {
			it.fail(verb, errors.New("the broker did not answer for it"))
		}
	}
}
