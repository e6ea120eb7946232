package state

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/lru"
)

// Kube is a Store and Journal kept in Secrets of one namespace, so that
// k3sync replicas on Kubernetes share one state: whichever holds the
// leader Lease reads what the previous leader wrote.
//
// Each tenant has two Secrets:
//
//	k3sync-state-<tenant>     entries.json.gz  its entries on every target (the inventory)
//	k3sync-journal-<tenant>   journal.json.gz  its runs (trimmed), drift report and status
//	                                           (with the operator's suspension)
//
// Secrets rather than ConfigMaps: the inventory holds last-applied
// objects (never credentials), but tenants' quotas, groups and network
// rules are still not for every `kubectl get cm` reader, and RBAC on
// Secrets is what clusters already lock down. The inventory has its own
// Secret so that the journal, which grows with every run, can never crowd
// it out of its size budget, and journal writes never conflict with
// inventory writes.
//
// # Size
//
// A Secret holds at most 1 MiB. Payloads are gzipped JSON (inventories
// compress about tenfold) and must fit in [KubeMaxPayload]. A journal that
// does not fit drops its oldest runs, then the change lists of the runs it
// keeps; an inventory is never trimmed: Save fails with [ErrTooLarge]
// (use the bolt backend, or split the tenant).
//
// # Concurrency
//
// Every write reads the Secret, changes the payload and writes it back
// with the resourceVersion it read; when another writer got there first
// the apiserver answers 409 Conflict and the write starts over from a
// fresh read. Reads are quorum reads from etcd, never from a cache: a new
// leader must see the last inventory the old one saved.
//
// Optimistic concurrency keeps two writers from losing each other's
// changes to one Secret, but not a replica that lost the Lease from
// writing after the new leader: a [Fence], checked right before every
// write, refuses those with [ErrNotLeader].
type Kube struct {
	secrets    corev1client.SecretInterface
	namespace  string
	maxPayload int
	// conflicts counts writes that lost a race and were retried.
	conflicts atomic.Int64
	// beforeWrite, when set, runs between the read and the write of an
	// update: tests make another writer win the race there.
	beforeWrite func()
	// fence, when set, says whether this process may still write.
	fence atomic.Pointer[Fence]
	// written holds the Secrets this store last wrote, by name, as the
	// apiserver returned them: the next write of one starts from it
	// instead of reading it again. A write that finds it changed since
	// (409) reads it afresh, so the resourceVersion keeps writes as
	// exact as reading first. A sync writes a tenant's inventory once
	// per target and records its run: a read saved on each.
	written *lru.Cache
	// writing serializes this process's writes of one Secret (by a hash
	// of its name): a tenant's targets save its inventory side by side,
	// and the second write then starts from the first instead of losing
	// the race to it (409, a read, a write again).
	writing [256]sync.Mutex
	// listed maps a kind to the names of its Secrets at the store's last
	// complete list of them, and the names it has created since: a write
	// of a Secret not among them creates it without reading it first (one
	// created since by another replica fails the create, 409, and is read).
	listedMu sync.Mutex
	listed   map[string]map[string]bool
}

// kubeWrittenCache bounds the Secrets Kube keeps from its writes (a few
// KiB each): a sync's targets work through the tenants side by side, the
// last of them (Kong) hundreds of tenants behind the first.
const kubeWrittenCache = 2048

// Fence says whether this process may write the shared state now: nil,
// or why not (this replica is not, or no longer, the Lease holder). The
// daemon wires it to its leader elector.
type Fence func() error

// ErrNotLeader: a write refused by the store's [Fence], because another
// replica may be the leader now; the write would overwrite its state.
var ErrNotLeader = errors.New("not the leader")

// SetFence makes every later write ask f first, right before it is sent;
// a write f refuses fails with [ErrNotLeader] and changes nothing.
func (k *Kube) SetFence(f Fence) { k.fence.Store(&f) }

// fenced is nil when the fence (if any) lets this process write.
func (k *Kube) fenced() error {
	f := k.fence.Load()
	if f == nil || *f == nil {
		return nil
	}
	if err := (*f)(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	return nil
}

// KubeMaxPayload is the compressed payload budget of one state Secret:
// the apiserver's 1 MiB limit on a Secret's data less headroom for its
// key.
const KubeMaxPayload = 1<<20 - 16<<10

// ErrTooLarge: a payload does not fit in one Secret.
var ErrTooLarge = errors.New("too large for one Secret")

// Labels and names of the state Secrets.
const (
	// KubeLabelState is "inventory" or "journal" on every state Secret.
	KubeLabelState   = "k3sync.io/state"
	kubeAnnotTenant  = "k3sync.io/tenant"
	kubeSecretType   = corev1.SecretType("k3sync.io/state")
	kindInventory    = "inventory"
	kindJournal      = "journal"
	keyInventory     = "entries.json.gz"
	keyJournal       = "journal.json.gz"
	kubeListPageSize = 25 // Secrets of up to 1 MiB each
	kubeWriteRetries = 25
)

// NewKube returns a store in the Secrets of namespace. It sends nothing.
func NewKube(cs kubernetes.Interface, namespace string) (*Kube, error) {
	if cs == nil || namespace == "" {
		return nil, errors.New("state: kubernetes backend: a client and a namespace are required")
	}
	return &Kube{secrets: cs.CoreV1().Secrets(namespace), namespace: namespace, maxPayload: KubeMaxPayload, written: lru.New(kubeWrittenCache)}, nil
}

// Close implements io.Closer; there is nothing to release.
func (k *Kube) Close() error { return nil }

// Load implements Store.
func (k *Kube) Load(ctx context.Context, tenant, target string) (Entry, error) {
	var entries map[string]Entry
	if _, err := k.read(ctx, kindInventory, tenant, &entries); err != nil {
		return Entry{}, fmt.Errorf("state %s %s: load: %w", tenant, target, err)
	}
	e, ok := entries[target]
	if !ok {
		e = Entry{Tenant: tenant, Target: target}
	}
	if e.Resources == nil {
		e.Resources = map[string]json.RawMessage{}
	}
	return e, nil
}

// Save implements Store: the tenant's Secret is rewritten with e in place
// of its entry on e.Target.
func (k *Kube) Save(ctx context.Context, e Entry) error {
	if e.Tenant == "" || e.Target == "" {
		return errors.New("state: save: entry without tenant or target")
	}
	err := k.update(ctx, kindInventory, e.Tenant, func(old []byte) ([]byte, error) {
		entries := map[string]Entry{}
		if err := unmarshalPayload(old, &entries); err != nil {
			return nil, err
		}
		entries[e.Target] = e
		return k.encode(entries)
	})
	if err != nil {
		return fmt.Errorf("state %s %s: save: %w", e.Tenant, e.Target, err)
	}
	return nil
}

// List implements Store with one paged list of the inventory Secrets.
func (k *Kube) List(ctx context.Context, target string) ([]Entry, error) {
	var out []Entry
	err := k.each(ctx, kindInventory, func(payload []byte) error {
		var entries map[string]Entry
		if err := unmarshalPayload(payload, &entries); err != nil {
			return err
		}
		for _, e := range entries {
			if target == "" || e.Target == target {
				if e.Resources == nil {
					e.Resources = map[string]json.RawMessage{}
				}
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: list: %w", err)
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Target, b.Target)) })
	return out, nil
}

// kubeJournal is the payload of a journal Secret.
type kubeJournal struct {
	// Runs, oldest first (IDs are time-ordered).
	Runs   []Run         `json:"runs,omitempty"`
	Drift  *Drift        `json:"drift,omitempty"`
	Status *TenantStatus `json:"status,omitempty"`
}

// AddRun implements Journal: the run, the trimmed history and the status
// in one write.
func (k *Kube) AddRun(ctx context.Context, r Run) error {
	if err := k.updateJournal(ctx, r.Tenant, func(j *kubeJournal) {
		j.addRun(r)
		j.Status = ptr(nextStatus(deref(j.Status), r))
	}); err != nil {
		return fmt.Errorf("state: run %s: save: %w", r.ID, err)
	}
	return nil
}

// SetSuspension implements Journal: the history entry, the trimmed
// history and the status in one write.
func (k *Kube) SetSuspension(ctx context.Context, s Suspension) error {
	if err := k.updateJournal(ctx, s.Tenant, func(j *kubeJournal) {
		j.addRun(s.Entry())
		j.Status = ptr(withSuspension(deref(j.Status), s))
	}); err != nil {
		return fmt.Errorf("state: suspension of %s: save: %w", s.Tenant, err)
	}
	return nil
}

// updateJournal rewrites tenant's journal with change applied.
func (k *Kube) updateJournal(ctx context.Context, tenant string, change func(*kubeJournal)) error {
	return k.update(ctx, kindJournal, tenant, func(old []byte) ([]byte, error) {
		var j kubeJournal
		if err := unmarshalPayload(old, &j); err != nil {
			return nil, err
		}
		change(&j)
		return k.encodeJournal(&j)
	})
}

// addRun adds r to the history, oldest first, trimmed to MaxRunsPerTenant.
func (j *kubeJournal) addRun(r Run) {
	j.Runs = slices.DeleteFunc(j.Runs, func(x Run) bool { return x.ID == r.ID })
	j.Runs = append(j.Runs, r)
	slices.SortStableFunc(j.Runs, func(a, b Run) int { return cmp.Compare(a.ID, b.ID) })
	if len(j.Runs) > MaxRunsPerTenant {
		j.Runs = j.Runs[len(j.Runs)-MaxRunsPerTenant:]
	}
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// Runs implements Journal.
func (k *Kube) Runs(ctx context.Context, tenant string, limit int) ([]Run, error) {
	var out []Run
	if tenant != "" {
		var j kubeJournal
		if _, err := k.read(ctx, kindJournal, tenant, &j); err != nil {
			return nil, fmt.Errorf("state: runs of %s: %w", tenant, err)
		}
		out = j.Runs
	} else if err := k.eachJournal(ctx, func(j *kubeJournal) { out = append(out, j.Runs...) }); err != nil {
		return nil, fmt.Errorf("state: runs: %w", err)
	}
	return newestFirst(out, limit), nil
}

// SaveDrift implements Journal.
func (k *Kube) SaveDrift(ctx context.Context, d Drift) error {
	if err := k.updateJournal(ctx, d.Tenant, func(j *kubeJournal) { j.Drift = &d }); err != nil {
		return fmt.Errorf("state: drift of %s: save: %w", d.Tenant, err)
	}
	return nil
}

// Drifts implements Journal.
func (k *Kube) Drifts(ctx context.Context) ([]Drift, error) {
	var out []Drift
	if err := k.eachJournal(ctx, func(j *kubeJournal) {
		if j.Drift != nil {
			out = append(out, *j.Drift)
		}
	}); err != nil {
		return nil, fmt.Errorf("state: drift: %w", err)
	}
	slices.SortFunc(out, func(a, b Drift) int { return cmp.Compare(a.Tenant, b.Tenant) })
	return out, nil
}

// Statuses implements Journal.
func (k *Kube) Statuses(ctx context.Context) ([]TenantStatus, error) {
	var out []TenantStatus
	if err := k.eachJournal(ctx, func(j *kubeJournal) {
		if j.Status != nil {
			out = append(out, *j.Status)
		}
	}); err != nil {
		return nil, fmt.Errorf("state: status: %w", err)
	}
	slices.SortFunc(out, func(a, b TenantStatus) int { return cmp.Compare(a.Tenant, b.Tenant) })
	return out, nil
}

// Status implements Journal: one GET.
func (k *Kube) Status(ctx context.Context, tenant string) (TenantStatus, error) {
	var j kubeJournal
	if _, err := k.read(ctx, kindJournal, tenant, &j); err != nil {
		return TenantStatus{}, fmt.Errorf("state: status of %s: %w", tenant, err)
	}
	if j.Status == nil {
		return TenantStatus{}, nil
	}
	return *j.Status, nil
}

// encodeJournal encodes j, dropping history until it fits: first the
// oldest runs (a quarter at a time, keeping the newest), then the change
// lists of those kept; the status (with the operator's suspension) and
// the drift report are never dropped.
func (k *Kube) encodeJournal(j *kubeJournal) ([]byte, error) {
	for {
		b, err := k.encode(j)
		if !errors.Is(err, ErrTooLarge) {
			return b, err
		}
		switch {
		case len(j.Runs) > 1:
			j.Runs = j.Runs[max(1, len(j.Runs)/4):]
		case len(j.Runs) == 1 && j.Runs[0].Changes != nil || j.Status != nil && j.Status.LastRun != nil && j.Status.LastRun.Changes != nil:
			for i := range j.Runs {
				j.Runs[i].Changes = nil
			}
			if j.Status != nil && j.Status.LastRun != nil {
				last := *j.Status.LastRun
				last.Changes = nil
				j.Status.LastRun = &last
			}
		default:
			return nil, err
		}
	}
}

// encode returns v as gzipped JSON, or ErrTooLarge.
func (k *Kube) encode(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	if buf.Len() > k.maxPayload {
		return nil, fmt.Errorf("%d bytes of JSON are %d bytes gzipped, over the %d a state Secret holds: %w", len(raw), buf.Len(), k.maxPayload, ErrTooLarge)
	}
	return buf.Bytes(), nil
}

func unmarshalPayload(payload []byte, v any) error {
	if len(payload) == 0 {
		return nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// kubeSecretName is the Secret of kind for tenant. Tenants are DNS-1123
// labels (the schema's #Name); anything else is named by its hash.
func kubeSecretName(kind, tenant string) string {
	prefix := "k3sync-state-"
	if kind == kindJournal {
		prefix = "k3sync-journal-"
	}
	if len(validation.IsDNS1123Label(tenant)) == 0 {
		return prefix + tenant
	}
	sum := sha256.Sum256([]byte(tenant))
	return prefix + "h-" + hex.EncodeToString(sum[:10])
}

func payloadKey(kind string) string {
	if kind == kindJournal {
		return keyJournal
	}
	return keyInventory
}

// read decodes the payload of tenant's Secret of kind into v, leaving v
// alone when there is none, and returns the Secret (nil when none).
func (k *Kube) read(ctx context.Context, kind, tenant string, v any) (*corev1.Secret, error) {
	name := kubeSecretName(kind, tenant)
	sec, err := k.secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", k.namespace, name, err)
	}
	if got := sec.Annotations[kubeAnnotTenant]; got != tenant {
		return nil, fmt.Errorf("secret %s/%s holds the state of tenant %q, not %q", k.namespace, name, got, tenant)
	}
	if err := unmarshalPayload(sec.Data[payloadKey(kind)], v); err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", k.namespace, name, err)
	}
	return sec, nil
}

// update rewrites tenant's Secret of kind with change(old payload),
// starting over from a fresh read when another writer wrote in between.
// An unchanged payload is not written.
func (k *Kube) update(ctx context.Context, kind, tenant string, change func(old []byte) ([]byte, error)) error {
	name := kubeSecretName(kind, tenant)
	key := payloadKey(kind)
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	mu := &k.writing[h.Sum32()%uint32(len(k.writing))]
	mu.Lock()
	defer mu.Unlock()
	backoff := wait.Backoff{Duration: 5 * time.Millisecond, Factor: 1.5, Jitter: 1, Steps: kubeWriteRetries, Cap: 500 * time.Millisecond}
	for {
		sec, cached := k.lastWritten(name)
		if !cached && k.absent(kind, name) {
			sec = nil
		} else if !cached {
			var err error
			sec, err = k.secrets.Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				sec = nil
			case err != nil:
				return fmt.Errorf("secret %s/%s: %w", k.namespace, name, err)
			case sec.Annotations[kubeAnnotTenant] != tenant:
				return fmt.Errorf("secret %s/%s holds the state of tenant %q, not %q", k.namespace, name, sec.Annotations[kubeAnnotTenant], tenant)
			}
		}
		var old []byte
		if sec != nil {
			old = sec.Data[key]
		}
		payload, err := change(old)
		if err != nil {
			return fmt.Errorf("secret %s/%s: %w", k.namespace, name, err)
		}
		if sec != nil && samePayload(old, payload) {
			if cached {
				// Nothing to write as this store wrote it: make sure
				// that is what the Secret holds now.
				k.written.Remove(name)
				continue
			}
			return nil
		}
		if k.beforeWrite != nil {
			k.beforeWrite()
		}
		if err := k.fenced(); err != nil {
			return fmt.Errorf("secret %s/%s: write: %w", k.namespace, name, err)
		}
		var out *corev1.Secret
		if sec == nil {
			out, err = k.secrets.Create(ctx, k.newSecret(name, kind, tenant, key, payload), metav1.CreateOptions{FieldManager: "k3sync-state"})
		} else {
			if sec.Data == nil {
				sec.Data = map[string][]byte{}
			}
			sec.Data[key] = payload
			out, err = k.secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: "k3sync-state"})
		}
		if err == nil {
			// Kept without its managed fields: an update without them
			// leaves them as they are.
			out.ManagedFields = nil
			k.written.Add(name, out)
			k.exists(kind, name)
			return nil
		}
		k.written.Remove(name)
		if apierrors.IsAlreadyExists(err) {
			k.exists(kind, name)
		}
		if cached && apierrors.IsNotFound(err) {
			continue // deleted since this store wrote it: read, create
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("secret %s/%s: write: %w", k.namespace, name, err)
		}
		k.conflicts.Add(1)
		if backoff.Steps <= 1 {
			return fmt.Errorf("secret %s/%s: gave up after %d conflicting writes: %w", k.namespace, name, kubeWriteRetries, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("secret %s/%s: %w", k.namespace, name, ctx.Err())
		case <-time.After(backoff.Step()):
		}
	}
}

// lastWritten is a copy of the Secret name as this store last wrote it,
// if it still has it.
func (k *Kube) lastWritten(name string) (*corev1.Secret, bool) {
	v, ok := k.written.Get(name)
	if !ok {
		return nil, false
	}
	return v.(*corev1.Secret).DeepCopy(), true //nolint:forcetypeassert // only update adds, only Secrets
}

// samePayload compares the JSON inside two payloads; gzip output is not
// guaranteed to be byte-stable across Go releases.
func samePayload(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ra, rb json.RawMessage
	if unmarshalPayload(a, &ra) != nil || unmarshalPayload(b, &rb) != nil {
		return false
	}
	return bytes.Equal(ra, rb)
}

func (k *Kube) newSecret(name, kind, tenant, key string, payload []byte) *corev1.Secret {
	labels := map[string]string{
		"app.kubernetes.io/name":      "k3sync",
		"app.kubernetes.io/component": "state",
		KubeLabelState:                kind,
	}
	if len(validation.IsValidLabelValue(tenant)) == 0 {
		labels[kubeAnnotTenant] = tenant
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: k.namespace, Labels: labels,
			Annotations: map[string]string{kubeAnnotTenant: tenant},
		},
		Type: kubeSecretType,
		Data: map[string][]byte{key: payload},
	}
}

// each calls fn with the payload of every Secret of kind, one page at a
// time.
func (k *Kube) each(ctx context.Context, kind string, fn func(payload []byte) error) error {
	opts := metav1.ListOptions{LabelSelector: KubeLabelState + "=" + kind, Limit: kubeListPageSize}
	names := map[string]bool{}
	for {
		list, err := k.secrets.List(ctx, opts)
		if err != nil {
			return fmt.Errorf("list secrets in %s: %w", k.namespace, err)
		}
		for i := range list.Items {
			sec := &list.Items[i]
			names[sec.Name] = true
			if sec.Type != kubeSecretType {
				continue
			}
			if err := fn(sec.Data[payloadKey(kind)]); err != nil {
				return fmt.Errorf("secret %s/%s: %w", k.namespace, sec.Name, err)
			}
		}
		if list.Continue == "" {
			k.listedMu.Lock()
			if k.listed == nil {
				k.listed = map[string]map[string]bool{}
			}
			k.listed[kind] = names
			k.listedMu.Unlock()
			return nil
		}
		opts.Continue = list.Continue
	}
}

// absent reports whether the store's last complete list of kind's
// Secrets had no Secret name, and the store has not created it since.
func (k *Kube) absent(kind, name string) bool {
	k.listedMu.Lock()
	defer k.listedMu.Unlock()
	names, ok := k.listed[kind]
	return ok && !names[name]
}

// exists notes that the Secret name of kind exists.
func (k *Kube) exists(kind, name string) {
	k.listedMu.Lock()
	defer k.listedMu.Unlock()
	if names := k.listed[kind]; names != nil {
		names[name] = true
	}
}

func (k *Kube) eachJournal(ctx context.Context, fn func(*kubeJournal)) error {
	return k.each(ctx, kindJournal, func(payload []byte) error {
		var j kubeJournal
		if err := unmarshalPayload(payload, &j); err != nil {
			return err
		}
		fn(&j)
		return nil
	})
}
