package kafka

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"
)

// createACLs creates the bindings of items in one CreateAcls request.
// Kafka cannot validate ACLs without making them: a dry run sends nothing.
func (w *writer) createACLs(ctx context.Context, items []*item) {
	const verb = "create"
	if w.dry {
		w.dryNote(items, "dry run: not sent (Kafka has no validate-only CreateAcls)")
		return
	}
	req := kmsg.NewPtrCreateACLsRequest()
	for _, it := range items {
		b := it.acl
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType = b.resource
		c.ResourceName = b.name
		c.ResourcePatternType = b.pattern
		c.Principal = b.principal
		c.Host = b.host
		c.Operation = b.operation
		c.PermissionType = b.permission
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctx, w.t.client)
	if err != nil {
		failAll(items, verb, err)
		return
	}
	seen := map[*item]bool{}
	// Results are in the order of the creations.
	for i, r := range resp.Results {
		if i >= len(items) {
			break
		}
		seen[items[i]] = true
		if err := brokerError(r.ErrorCode, r.ErrorMessage); err != nil {
			items[i].fail(verb, err)
		}
	}
	unanswered(items, seen, verb)
}

// deleteACLs deletes the bindings of items in one DeleteAcls request, each
// with a filter that matches that binding exactly and nothing else.
func (w *writer) deleteACLs(ctx context.Context, items []*item) {
	const verb = "delete"
	if w.dry {
		w.dryNote(items, "dry run: not sent (Kafka has no validate-only DeleteAcls)")
		return
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	for _, it := range items {
		b := it.acl
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType = b.resource
		f.ResourceName = kmsg.StringPtr(b.name)
		f.ResourcePatternType = b.pattern
		f.Principal = kmsg.StringPtr(b.principal)
		f.Host = kmsg.StringPtr(b.host)
		f.Operation = b.operation
		f.PermissionType = b.permission
		req.Filters = append(req.Filters, f)
	}
	resp, err := req.RequestWith(ctx, w.t.client)
	if err != nil {
		failAll(items, verb, err)
		return
	}
	seen := map[*item]bool{}
	for i, r := range resp.Results {
		if i >= len(items) {
			break
		}
		seen[items[i]] = true
		if err := brokerError(r.ErrorCode, r.ErrorMessage); err != nil {
			items[i].fail(verb, err)
		}
	}
	unanswered(items, seen, verb)
}

// alterQuotas sets and removes quota keys of the user entities of items in
// one AlterClientQuotas request; only the keys k3sync manages.
func (w *writer) alterQuotas(ctx context.Context, items []*item) {
	const verb = "alter"
	req := kmsg.NewPtrAlterClientQuotasRequest()
	req.ValidateOnly = w.dry
	byUser := make(map[string]*item, len(items))
	for _, it := range items {
		q := it.quota
		e := kmsg.NewAlterClientQuotasRequestEntry()
		ent := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ent.Type = "user"
		ent.Name = kmsg.StringPtr(q.user)
		e.Entity = []kmsg.AlterClientQuotasRequestEntryEntity{ent}
		for _, k := range slices.Sorted(maps.Keys(q.set)) {
			op := kmsg.NewAlterClientQuotasRequestEntryOp()
			op.Key = k
			op.Value = q.set[k]
			e.Ops = append(e.Ops, op)
		}
		for _, k := range q.remove {
			op := kmsg.NewAlterClientQuotasRequestEntryOp()
			op.Key = k
			op.Remove = true
			e.Ops = append(e.Ops, op)
		}
		req.Entries = append(req.Entries, e)
		byUser[q.user] = it
	}
	resp, err := req.RequestWith(ctx, w.t.client)
	if err != nil {
		failAll(items, verb, err)
		return
	}
	seen := map[*item]bool{}
	for _, e := range resp.Entries {
		if len(e.Entity) != 1 || e.Entity[0].Name == nil {
			continue
		}
		it := byUser[*e.Entity[0].Name]
		if it == nil || seen[it] {
			continue
		}
		seen[it] = true
		if err := brokerError(e.ErrorCode, e.ErrorMessage); err != nil {
			it.fail(verb, err)
		}
	}
	unanswered(items, seen, verb)
	w.dryNote(items, "dry run: validated by the broker (ValidateOnly), not made")
}

// upsertUsers gives the users of items a new SCRAM credential with a
// generated password, in one AlterUserScramCredentials request. Each
// password goes to the sink first: a password Kafka has but nobody was
// given would lock the tenant out for good, one given but not yet set
// only until the next apply.
func (w *writer) upsertUsers(ctx context.Context, items []*item) {
	const verb = "set password"
	if w.dry {
		w.dryNote(items, "dry run: no password generated, nothing sent (Kafka has no validate-only SCRAM change)")
		return
	}
	// Each password is delivered and salted before Kafka sees it: the
	// sink is a network write and PBKDF2 costs milliseconds of CPU per
	// user, so both run for several users at once.
	prepared := make([]*kadm.UpsertSCRAM, len(items))
	var g errgroup.Group
	g.SetLimit(userConcurrency)
	for i, it := range items {
		g.Go(func() error {
			u, err := w.prepareUser(ctx, it)
			if err != nil {
				it.refuse(verb, err)
				return nil
			}
			prepared[i] = u
			return nil
		})
	}
	_ = g.Wait() // errors are per item
	var (
		upserts []kadm.UpsertSCRAM
		sent    []*item
	)
	for i, u := range prepared {
		if u != nil {
			upserts = append(upserts, *u)
			sent = append(sent, items[i])
		}
	}
	if len(upserts) == 0 {
		return
	}
	resp, err := w.t.admin.AlterUserSCRAMs(ctx, nil, upserts)
	clear(upserts) // the passwords, now salted, are not needed any more
	if err != nil {
		failAll(sent, verb, err)
		return
	}
	seen := map[*item]bool{}
	for _, it := range sent {
		r, ok := resp[it.user.name]
		if !ok {
			continue
		}
		seen[it] = true
		if r.Err != nil {
			it.fail(verb, scramError(r))
		}
	}
	unanswered(sent, seen, verb)
}

// userConcurrency bounds the users prepared at once: credential
// deliveries in flight and PBKDF2 computations.
const userConcurrency = 8

// prepareUser generates a user's password, delivers it and salts it as
// kadm would, so that the request carries no password. Delivering first
// means a failed upsert leaves the sink with a password Kafka does not
// know, replaced by the next apply; the other order could leave a working
// password nobody has.
func (w *writer) prepareUser(ctx context.Context, it *item) (*kadm.UpsertSCRAM, error) {
	u := it.user
	mech, err := scramMechanism(u.mechanism)
	if err != nil {
		return nil, err
	}
	password, err := newPassword()
	if err != nil {
		return nil, err
	}
	if err := w.t.deliver(ctx, it.change.Tenant, u.name, u.mechanism, password); err != nil {
		return nil, err
	}
	iterations := u.iterations
	if iterations == 0 {
		iterations = 4096 // Kafka's minimum, kadm's default
	}
	salt, salted, err := saltPassword(mech, password, iterations)
	if err != nil {
		return nil, err
	}
	return &kadm.UpsertSCRAM{User: u.name, Mechanism: mech, Iterations: iterations, Salt: salt, SaltedPassword: salted}, nil
}

// saltPassword derives the SCRAM salted password (RFC 5802 Hi()) with a
// random 24-byte salt, as kadm does when given a plain password.
func saltPassword(mech kadm.ScramMechanism, password string, iterations int32) (salt, salted []byte, err error) {
	if iterations < 4096 || iterations > 16384 {
		return nil, nil, fmt.Errorf("iterations %d is outside the allowed 4096 to 16384 range", iterations)
	}
	salt = make([]byte, 24)
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, fmt.Errorf("generate salt: %w", err)
	}
	switch mech {
	case kadm.ScramSha256:
		salted, err = pbkdf2.Key(sha256.New, password, salt, int(iterations), sha256.Size)
	case kadm.ScramSha512:
		salted, err = pbkdf2.Key(sha512.New, password, salt, int(iterations), sha512.Size)
	default:
		err = fmt.Errorf("unknown SCRAM mechanism %v", mech)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("salt password: %w", err)
	}
	return salt, salted, nil
}

// removeUsers deletes the SCRAM credentials of items in one
// AlterUserScramCredentials request.
func (w *writer) removeUsers(ctx context.Context, items []*item) {
	const verb = "delete credential"
	if w.dry {
		w.dryNote(items, "dry run: not sent (Kafka has no validate-only SCRAM change)")
		return
	}
	var dels []kadm.DeleteSCRAM
	var sent []*item
	for _, it := range items {
		for _, m := range it.user.remove {
			mech, err := scramMechanism(m)
			if err != nil {
				it.refuse(verb, err)
				continue
			}
			dels = append(dels, kadm.DeleteSCRAM{User: it.user.name, Mechanism: mech})
		}
		if len(it.errs) == 0 {
			sent = append(sent, it)
		}
	}
	if len(dels) == 0 {
		return
	}
	resp, err := w.t.admin.AlterUserSCRAMs(ctx, dels, nil)
	if err != nil {
		failAll(sent, verb, err)
		return
	}
	seen := map[*item]bool{}
	for _, it := range sent {
		r, ok := resp[it.user.name]
		if !ok {
			continue
		}
		seen[it] = true
		// A credential already gone is what the delete wanted.
		if r.Err != nil && !errors.Is(r.Err, kerr.ResourceNotFound) {
			it.fail(verb, scramError(r))
		}
	}
	unanswered(sent, seen, verb)
}

func scramError(r kadm.AlteredUserSCRAM) error {
	if r.ErrMessage != "" {
		return fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
	}
	return r.Err
}

// deliver hands a password to the sink. The sink's error is wrapped
// without the password.
func (t *Target) deliver(ctx context.Context, tenant, user, mechanism, password string) error {
	if t.sink == nil {
		return fmt.Errorf("deliver: %w", ErrNoSink)
	}
	if err := t.sink.Deliver(ctx, tenant, user, mechanism, password); err != nil {
		return fmt.Errorf("deliver: %w", err)
	}
	return nil
}

// passwordBytes of randomness: 256 bits, 43 characters once encoded.
const passwordBytes = 32

// newPassword returns a random password from crypto/rand, URL-safe base64
// so that it needs no escaping in a Secret, a JAAS file or a shell.
func newPassword() (string, error) {
	b := make([]byte, passwordBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
