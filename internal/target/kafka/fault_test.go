package kafka

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/k3sync/k3sync/internal/plan"
)

// TestFaults injects broker errors with kfake: a failure fails only the
// changes it concerns, the apply says so with an *ApplyError, the
// inventory keeps what may exist, and a retry converges without duplicates.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault kfake.Fault
		// failed are the changes that fail.
		failed []string
		// owned: the failed changes stay in the inventory (they may
		// have been made).
		owned bool
		// retry is the plan after the failed apply.
		retry []string
	}{{
		name:   "one topic rejected",
		fault:  kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Topic: "checkout.carts", Err: kerr.PolicyViolation},
		failed: []string{"create topic checkout.carts"},
		retry:  []string{"create topic checkout.carts"},
	}, {
		name:   "one topic timed out but created",
		fault:  kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Topic: "checkout.carts", Err: kerr.RequestTimedOut},
		failed: []string{"create topic checkout.carts"},
		owned:  true,
	}, {
		name:   "one topic failed, outcome unknown",
		fault:  kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Topic: "checkout.carts", Err: kerr.UnknownServerError},
		failed: []string{"create topic checkout.carts"},
		owned:  true,
		retry:  []string{"create topic checkout.carts"},
	}, {
		// franz-go sends a CreateTopics again on a new connection when
		// the first one broke after it was sent: the answer to the
		// second is TOPIC_ALREADY_EXISTS when the first created the
		// topic (TestContract/broker/crash_after_write_ahead makes it
		// happen on the broker). The outcome is unknown, not refused.
		name:   "one topic already exists, outcome unknown",
		fault:  kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Topic: "checkout.carts", Err: kerr.TopicAlreadyExists},
		failed: []string{"create topic checkout.carts"},
		owned:  true,
		retry:  []string{"create topic checkout.carts"},
	}, {
		name:  "acl creations timed out but made",
		fault: kfake.Fault{Keys: []kmsg.Key{kmsg.CreateACLs}, Resource: "payments.", Err: kerr.RequestTimedOut, Count: -1},
		failed: []string{
			"create acl User:payments.api allow describe topic prefixed:payments. from *",
			"create acl User:payments.api allow read topic prefixed:payments. from *",
			"create acl User:payments.api allow write topic prefixed:payments. from *",
		},
		owned: true,
	}, {
		name:  "acl creations refused",
		fault: kfake.Fault{Keys: []kmsg.Key{kmsg.CreateACLs}, Resource: "checkout.", Err: kerr.InvalidRequest, Count: -1},
		failed: []string{
			"create acl User:checkout.service allow describe group prefixed:checkout. from *",
			"create acl User:checkout.service allow read group prefixed:checkout. from *",
			"create acl User:checkout.service allow read topic prefixed:checkout. from *",
			"create acl User:checkout.service allow write topic prefixed:checkout. from *",
		},
		retry: []string{
			"create acl User:checkout.service allow describe group prefixed:checkout. from *",
			"create acl User:checkout.service allow read group prefixed:checkout. from *",
			"create acl User:checkout.service allow read topic prefixed:checkout. from *",
			"create acl User:checkout.service allow write topic prefixed:checkout. from *",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			d := example(t)
			h := e.cluster.Fault(tc.fault)
			results, err := e.target.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
			var ae *ApplyError
			if !errors.As(err, &ae) {
				t.Fatalf("apply error %v is not an *ApplyError", err)
			}
			if !errors.Is(err, tc.fault.Err) {
				t.Errorf("apply error %v does not wrap %v", err, tc.fault.Err)
			}
			var failed []string
			for _, r := range ae.Failed {
				failed = append(failed, string(r.Action)+" "+r.Kind+" "+r.Name)
				if !strings.HasPrefix(r.Error, "kafka "+r.Kind+" "+r.Name+": create: ") {
					t.Errorf("error %q does not name its subject first", r.Error)
				}
			}
			if diff := cmp.Diff(tc.failed, failed); diff != "" {
				t.Fatalf("failed changes (-want +got):\n%s", diff)
			}
			if ae.Total != len(results) {
				t.Errorf("ApplyError.Total = %d, %d results", ae.Total, len(results))
			}
			for _, r := range results {
				if slices.Contains(failed, string(r.Action)+" "+r.Kind+" "+r.Name) != (r.Err != nil) {
					t.Errorf("%s: %v", r.Key, r.Err)
				}
			}
			h.Remove()

			for _, r := range ae.Failed {
				inv := e.owned(t, r.Tenant)
				if got := slices.Contains(inv, inventoryID(r.Kind, r.Name)); got != tc.owned {
					t.Errorf("%s in the inventory: %v, want %v", r.Key, got, tc.owned)
				}
			}

			retry := e.plan(t, d.Request())
			if diff := cmp.Diff(tc.retry, summary(retry), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("plan after the failure (-want +got):\n%s", diff)
			}
			for _, c := range retry {
				if c.Drift {
					t.Errorf("%s: a change that failed is not drift", c.Key)
				}
				if tc.owned && !slices.Contains(c.Notes, pendingNote) {
					t.Errorf("%s: notes %q, want the pending note", c.Key, c.Notes)
				}
			}
			e.apply(t, d.Request())
			if again := e.plan(t, d.Request()); len(again) != 0 {
				t.Errorf("not converged:\n%s", planText(t, again))
			}
			acls := e.acls(t)
			if len(slices.Compact(slices.Clone(acls))) != len(acls) || len(acls) != 19 {
				t.Errorf("%d ACLs after the retry, want the 19 of Git once each:\n%s", len(acls), strings.Join(acls, "\n"))
			}
		})
	}
}

// TestFailedDeleteStaysOwned: a delete Kafka refused stays in the
// inventory and is planned again.
func TestFailedDeleteStaysOwned(t *testing.T) {
	e, d := applied(t)
	d.removeTopic(t, "payments", "payments.dlq")
	k := d.kafka(t, "analytics")
	k.ACLs = k.ACLs[1:]
	h := e.cluster.Fault(
		kfake.Fault{Keys: []kmsg.Key{kmsg.DeleteTopics}, Topic: "payments.dlq", Err: kerr.TopicAuthorizationFailed, Count: -1},
		kfake.Fault{Keys: []kmsg.Key{kmsg.DeleteACLs}, Resource: "analytics.etl", Err: kerr.ClusterAuthorizationFailed, Count: -1},
	)
	_, err := e.target.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
	var ae *ApplyError
	if !errors.As(err, &ae) || len(ae.Failed) != 2 {
		t.Fatalf("apply: %v, want two failed deletes", err)
	}
	for _, r := range ae.Failed {
		if !strings.HasPrefix(r.Error, "kafka "+r.Kind+" "+r.Name+": delete: ") {
			t.Errorf("error %q", r.Error)
		}
	}
	if !slices.Contains(e.owned(t, "payments"), "topic/payments.dlq") {
		t.Error("a topic that failed to delete left the inventory")
	}
	if !slices.Contains(e.owned(t, "analytics"), "acl/User:analytics.etl allow read group literal:analytics.etl from *") {
		t.Error("an ACL that failed to delete left the inventory")
	}
	want := []string{"delete acl User:analytics.etl allow read group literal:analytics.etl from *", "delete topic payments.dlq"}
	if diff := cmp.Diff(want, summary(e.plan(t, d.Request()))); diff != "" {
		t.Errorf("plan after the failure (-want +got):\n%s", diff)
	}
	h.Remove()
	e.apply(t, d.Request())
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Errorf("not converged:\n%s", planText(t, again))
	}
}

// TestCreateTopicsUnanswered uses a kfake control function on CreateTopics
// to drop one topic from the request the broker handles: the broker makes
// the others and says nothing about that one. Only that change fails; it
// stays owned and pending, and the retry creates it without calling it
// drift.
func TestCreateTopicsUnanswered(t *testing.T) {
	e := newEnv(t)
	d := example(t)
	var fired atomic.Bool
	e.cluster.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if fired.Swap(true) {
			return nil, nil, false // only the first request
		}
		creq := req.(*kmsg.CreateTopicsRequest)
		creq.Topics = slices.DeleteFunc(creq.Topics, func(rt kmsg.CreateTopicsRequestTopic) bool { return rt.Topic == "payments.ledger" })
		return nil, nil, false // the broker handles what is left
	})
	_, err := e.target.Apply(t.Context(), d.Request(), plan.ApplyOptions{})
	var ae *ApplyError
	if !errors.As(err, &ae) || len(ae.Failed) != 1 {
		t.Fatalf("apply: %v, want one failed change", err)
	}
	if r := ae.Failed[0]; r.Name != "payments.ledger" || r.Error != "kafka topic payments.ledger: create: the broker did not answer for it" {
		t.Fatalf("failed: %s: %s", r.Key, r.Error)
	}
	if got := len(e.topics(t)); got != 6 {
		t.Errorf("%d topics, want the 6 others", got)
	}
	owned := e.owned(t, "payments")
	if !slices.Contains(owned, "topic/payments.ledger") || !slices.Contains(owned, "pending/topic/payments.ledger") {
		t.Errorf("inventory %v: want payments.ledger owned and pending", owned)
	}
	want := []plan.Change{{
		Key: key("payments", "topic", "payments.ledger"), Action: plan.Create,
		Fields: []plan.FieldChange{
			{Path: "partitions", After: int32(6)}, {Path: "replicationFactor", After: int16(3)},
			{Path: "configs.cleanup.policy", After: "compact"}, {Path: "configs.min.compaction.lag.ms", After: "3600000"},
		},
		Notes: []string{pendingNote},
	}}
	if diff := cmp.Diff(want, e.plan(t, d.Request())); diff != "" {
		t.Errorf("retry plan (-want +got):\n%s", diff)
	}
	e.apply(t, d.Request())
	if again := e.plan(t, d.Request()); len(again) != 0 {
		t.Errorf("not converged:\n%s", planText(t, again))
	}
}
