package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"

	"github.com/k3sync/k3sync/internal/credentials"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/state"
)

// levelConcurrency bounds parallel writes within one tenant's level; the
// target's concurrency bounds how many tenants apply at once.
const levelConcurrency = 4

// ErrDependency is the result of a change skipped because one it depends
// on failed.
var ErrDependency = errors.New("dependency failed")

// Apply plans the request afresh and applies it, each tenant once its
// turn on the gate in opts has come, tenants in parallel up to the
// target's concurrency. Every change gets a result (plan.Finish); a
// tenant whose fresh plan is not the checked one (plan.Request.Stale) is
// not touched. A tenant whose inventory could not be saved is a
// *plan.PartialError; the error is for failures that prevented planning
// at all otherwise.
func (t *Target) Apply(ctx context.Context, req plan.Request, opts plan.ApplyOptions) ([]plan.Result, error) {
	// Tenants wait for their turn holding their changes, not their
	// objects: plan let go of those rendered on demand (shed), which are
	// rendered again when the tenant's turn comes (restore).
	tps, err := t.plan(ctx, req)
	if err != nil {
		return nil, err
	}
	// Tenants are independent: apply them in parallel, results in
	// indexed slots, each tenant's levels in order.
	perTenant := make([][]plan.Result, len(tps))
	failed := &plan.PartialError{Target: "cluster " + t.name}
	errs := make([]error, len(tps))
	var g errgroup.Group
	g.SetLimit(t.concurrency)
	order := make([]int, len(tps))
	for i := range order {
		order[i] = i
	}
	stale := req.StaleChecker(plan.Kubernetes, t.name)
	names := make([]string, len(tps))
	for i, tp := range tps {
		names[i] = tp.tenant
	}
	// Tenants whose turn has come take the slots first (plan.ReadyFirst).
	for _, i := range plan.ReadyFirst(opts, order, func(i int) string { return tps[i].tenant }) {
		tp := tps[i]
		g.Go(func() error {
			defer opts.Done(tp.tenant)
			// Once applied, the tenant's plan and desired objects are
			// let go: a sync of a thousand tenants holds only those
			// still to apply.
			defer func() { tps[i] = nil }()
			defer tp.from.Release()
			if err := stale.Adopt(tp.tenant, tp.changes()); err != nil {
				perTenant[i] = notAttempted(tp, func(c plan.Change) error { return fmt.Errorf("%s: %w", c.Key, err) })
				return nil
			}
			if err := opts.Wait(ctx, tp.tenant); err != nil {
				perTenant[i] = notAttempted(tp, func(c plan.Change) error { return plan.GateFailed(c, err) })
				return nil
			}
			if err := tp.restore(); err != nil {
				perTenant[i] = notAttempted(tp, func(c plan.Change) error { return fmt.Errorf("%s: %w", c.Key, err) })
				return nil
			}
			perTenant[i], errs[i] = t.applyTenant(ctx, tp, opts)
			return nil
		})
	}
	_ = g.Wait()
	n := 0
	for _, rs := range perTenant {
		n += len(rs)
	}
	results := make([]plan.Result, 0, n)
	for i, rs := range perTenant {
		results = append(results, rs...)
		perTenant[i] = nil
		failed.Add(names[i], errs[i])
	}
	results, applyErr := plan.Finish("cluster "+t.name, results)
	return results, errors.Join(applyErr, failed.Err())
}

func (t *Target) applyTenant(ctx context.Context, tp *tenantPlan, opts plan.ApplyOptions) ([]plan.Result, error) {
	before := tp.entry.Clone()
	entry := tp.entry.Clone()
	// Write ahead: own everything about to be created before creating it,
	// so a crash cannot leave an object k3sync created but forgot.
	var creating bool
	ahead := map[string]bool{}
	for _, it := range tp.items {
		if it.change.Action == plan.Create || it.change.Action == plan.Adopt {
			if _, ok := entry.Resources[idOf(it.desired)]; !ok {
				entry.Resources[idOf(it.desired)] = json.RawMessage(`{}`)
				ahead[idOf(it.desired)] = true
				creating = true
			}
		}
	}
	if creating && !opts.DryRun {
		if err := t.save(ctx, entry); err != nil {
			return nil, err
		}
	}

	results := make([]plan.Result, len(tp.items))
	for i, it := range tp.items {
		results[i].Change = it.change // blocked ones stay as planned
	}
	var mu sync.Mutex
	failedNamespaces := map[string]bool{}
	record := func(i int, applied *metav1.PartialObjectMetadata, err error) {
		mu.Lock()
		defer mu.Unlock()
		it := tp.items[i]
		results[i] = plan.Result{Change: it.change, Err: err}
		if err != nil {
			results[i].Error = err.Error()
		}
		id := objectID(it.change.Kind, it.change.Namespace, it.change.Name)
		if err != nil && ahead[id] && notCreated(err) {
			// The object was not created, or not by k3sync: the
			// write-ahead entry would own whatever takes the name later.
			delete(entry.Resources, id)
		}
		switch {
		case err != nil && it.change.Kind == "Namespace" && it.change.Action != plan.Delete:
			failedNamespaces[it.change.Name] = true
		case err != nil:
		case it.change.Action == plan.Delete || it.change.Action == plan.Orphan:
			delete(entry.Resources, id)
		default:
			if applied != nil {
				it.resourceVersion, it.uid = applied.GetResourceVersion(), applied.GetUID()
			}
			entry.Resources[id] = encodeLastApplied(it)
		}
	}

	// Creates and updates top-down, level by level; deletes bottom-up.
	for level := range kinds {
		if err := t.runLevel(ctx, tp, level, false, opts, failedNamespaces, &mu, record); err != nil {
			return results, err
		}
	}
	for level := len(kinds) - 1; level >= 0; level-- {
		if err := t.runLevel(ctx, tp, level, true, opts, failedNamespaces, &mu, record); err != nil {
			return results, err
		}
	}
	for i, it := range tp.items {
		if it.change.Action == plan.Orphan {
			var err error
			if it.dropCredentials {
				err = t.dropCredentials(ctx, it, opts)
			}
			record(i, nil, err)
		}
	}
	for _, id := range tp.forget {
		delete(entry.Resources, id)
	}
	for id, it := range tp.unchanged {
		// Record an unchanged object only when what the inventory says
		// of it is out of date: a no-op run writes nothing.
		if la := decodeHead(entry.Resources[id]); entry.Resources[id] == nil || la.Deletable != it.deletable || la.UID != it.uid || !la.sameObject(it.desired.Object) {
			entry.Resources[id] = encodeLastApplied(it)
		}
	}
	if opts.DryRun || entriesEqual(before, entry) {
		return results, nil
	}
	return results, t.save(ctx, entry)
}

// runLevel applies (or, with deletes, deletes) the items of one level
// with bounded concurrency.
func (t *Target) runLevel(ctx context.Context, tp *tenantPlan, level int, deletes bool, opts plan.ApplyOptions,
	failedNamespaces map[string]bool, mu *sync.Mutex, record func(int, *metav1.PartialObjectMetadata, error)) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(levelConcurrency)
	for i, it := range tp.items {
		if it.change.Level != level || (it.change.Action == plan.Delete) != deletes {
			continue
		}
		switch it.change.Action {
		case plan.Create, plan.Update, plan.Delete, plan.Adopt:
		default:
			continue
		}
		mu.Lock()
		depFailed := it.change.Namespace != "" && failedNamespaces[it.change.Namespace]
		mu.Unlock()
		if depFailed && !deletes {
			record(i, nil, fmt.Errorf("%s: namespace %s: %w", it.change.Key, it.change.Namespace, ErrDependency))
			continue
		}
		g.Go(func() error {
			var err error
			var applied *metav1.PartialObjectMetadata
			if deletes {
				err = t.deleteObject(gctx, tp, it, opts)
			} else {
				applied, err = t.applyObject(gctx, it, opts)
			}
			record(i, applied, err)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("cluster %s: %w", t.name, err)
	}
	return nil
}

// applyObject applies the item and returns the live object's metadata it
// produced (its resourceVersion and UID).
func (t *Target) applyObject(ctx context.Context, it *item, opts plan.ApplyOptions) (*metav1.PartialObjectMetadata, error) {
	k, _, ok := kindByName(it.desired.GetKind())
	if !ok {
		return nil, fmt.Errorf("%s: unknown kind", it.change.Key)
	}
	// An apply makes the tenant's Git state whatever its drift policy
	// (which decides only whether a scheduled check applies): fields
	// another manager took are taken back, as on every system. A create
	// takes nothing: the object was planned absent, and if another writer
	// made it since (a controller that fills new namespaces), its fields
	// conflict instead of being overwritten.
	create := it.change.Action == plan.Create
	ao := metav1.ApplyOptions{FieldManager: FieldManager, Force: !create}
	if opts.DryRun {
		ao.DryRun = []string{metav1.DryRunAll}
	}
	body, err := applyBody(it, !create)
	if err != nil {
		return nil, fmt.Errorf("%s: encode: %w", it.change.Key, err)
	}
	var ri metadata.ResourceInterface = t.meta.Resource(k.GVR())
	if k.Namespaced {
		ri = t.meta.Resource(k.GVR()).Namespace(it.desired.GetNamespace())
	}
	out, err := ri.Patch(ctx, it.desired.GetName(), types.ApplyPatchType, body, ao.ToPatchOptions())
	if err != nil {
		if uidRefused(err) {
			return nil, fmt.Errorf("%s: apply: %w", it.change.Key, ErrReplaced)
		}
		return nil, fmt.Errorf("%s: apply: %w", it.change.Key, err)
	}
	if create && !opts.DryRun {
		if other := otherWriter(out); other != "" {
			err := fmt.Errorf("%s: %w: %s created it between the plan and the apply; k3sync does not own it", it.change.Key, ErrCreatedByOther, other)
			if rerr := release(ctx, ri, it); rerr != nil {
				err = fmt.Errorf("%w; taking back what k3sync set on it: %w", err, rerr)
			}
			return nil, err
		}
	}
	return out, nil
}

// release applies nothing to an object k3sync's create found made by
// another writer: server-side apply removes the fields k3sync's create
// set that no other manager holds (its labels, keys the other left
// unset), and keeps those the other writer holds too. The object is left
// as the other writer made it.
func release(ctx context.Context, ri metadata.ResourceInterface, it *item) error {
	md := map[string]any{"name": it.desired.GetName()}
	if ns := it.desired.GetNamespace(); ns != "" {
		md["namespace"] = ns
	}
	body, err := json.Marshal(map[string]any{"apiVersion": it.desired.GetAPIVersion(), "kind": it.desired.GetKind(), "metadata": md})
	if err != nil {
		return err //nolint:wrapcheck // a map of strings
	}
	_, err = ri.Patch(ctx, it.desired.GetName(), types.ApplyPatchType, body, metav1.ApplyOptions{FieldManager: FieldManager}.ToPatchOptions())
	return err //nolint:wrapcheck // wrapped by the caller
}

// applyBody is the item's desired object as an apply sends it. An update
// or adoption names the UID of the live object it was planned against:
// the apiserver refuses it when that object was deleted, or deleted and
// made again by someone else, since the plan (uidRefused), so a forced
// apply never lands on an object k3sync did not plan for.
func applyBody(it *item, pinUID bool) ([]byte, error) {
	if !pinUID || it.uid == "" {
		return it.desired.MarshalJSON() //nolint:wrapcheck // wrapped by the caller
	}
	obj := maps.Clone(it.desired.Object)
	md, _ := obj["metadata"].(map[string]any)
	md = maps.Clone(md)
	if md == nil {
		md = map[string]any{}
	}
	md["uid"] = string(it.uid)
	obj["metadata"] = md
	return json.Marshal(obj) //nolint:wrapcheck // wrapped by the caller
}

// ErrReplaced is the result of an update or adoption whose object was
// deleted, or replaced by another of the same name, since the plan: the
// apply is refused, and the next plan sees what is there now.
var ErrReplaced = errors.New("the object was deleted or replaced since the plan; nothing was applied")

// uidRefused reports whether the apiserver refused an apply for its UID:
// the object of that UID is gone (409, uid mismatch), or another object
// has the name (422 on metadata.uid, which is immutable).
func uidRefused(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	st := status.Status()
	if st.Reason == metav1.StatusReasonConflict && strings.Contains(st.Message, "uid mismatch") {
		return true
	}
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			if c.Field == "metadata.uid" {
				return true
			}
		}
	}
	return false
}

// ErrCreatedByOther is the result of a create whose object another writer
// made between the plan and the apply: k3sync's create forced nothing, the
// fields it set that only it held are taken back, and it does not record
// the object as its own.
var ErrCreatedByOther = errors.New("exists, not owned by k3sync")

// otherWriter names a field manager of an object other than k3sync, status
// writers aside (controllers report on what k3sync creates): an object
// k3sync's apply just created has k3sync's fields only.
func otherWriter(obj *metav1.PartialObjectMetadata) string {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager != FieldManager && mf.Subresource == "" {
			return mf.Manager
		}
	}
	return ""
}

// notCreated reports whether a failed create certainly created nothing of
// k3sync's: the apiserver refused it, or another writer made the object. A
// timeout or a lost connection may have created it. A create skipped for
// its namespace keeps its entry, as the namespace does: the namespace,
// if someone else makes it, is blocked, and everything inside with it.
func notCreated(err error) bool {
	if errors.Is(err, ErrCreatedByOther) {
		return true
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	code := status.Status().Code
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

func (t *Target) deleteObject(ctx context.Context, tp *tenantPlan, it *item, opts plan.ApplyOptions) error {
	k, _, ok := kindByName(it.change.Kind)
	if !ok {
		return fmt.Errorf("%s: unknown kind", it.change.Key)
	}
	policy := metav1.DeletePropagationBackground
	do := metav1.DeleteOptions{PropagationPolicy: &policy}
	// Delete only the object that was planned: a foreign object that took
	// its name since has another UID.
	if l, ok := tp.live[objectID(it.change.Kind, it.change.Namespace, it.change.Name)]; ok {
		uid := l.GetUID()
		do.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	if opts.DryRun {
		do.DryRun = []string{metav1.DryRunAll}
	}
	ri := t.dyn.Resource(k.GVR())
	var err error
	if k.Namespaced {
		err = ri.Namespace(it.change.Namespace).Delete(ctx, it.change.Name, do)
	} else {
		err = ri.Delete(ctx, it.change.Name, do)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("%s: delete: %w", it.change.Key, err)
	}
	return nil
}

// dropCredentials deletes the credential Secrets k3sync delivered in a
// namespace it orphans (labelled credentials.LabelCredential, written by
// credentials.FieldManager): the namespace stays with its owners, the
// SCRAM passwords and key-auth keys of a tenant k3sync no longer manages
// do not. A failure fails the orphan, which stays in the inventory and is
// tried again.
func (t *Target) dropCredentials(ctx context.Context, it *item, opts plan.ApplyOptions) error {
	secrets := t.clientset.CoreV1().Secrets(it.change.Name)
	list, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: credentials.LabelCredential})
	if err != nil {
		return fmt.Errorf("%s: credential secrets: list: %w", it.change.Key, err)
	}
	do := metav1.DeleteOptions{}
	if opts.DryRun {
		do.DryRun = []string{metav1.DryRunAll}
	}
	var errs []error
	for _, sec := range list.Items {
		if !slices.ContainsFunc(sec.ManagedFields, func(m metav1.ManagedFieldsEntry) bool { return m.Manager == credentials.FieldManager }) {
			continue // labelled by someone else: not a delivery of k3sync's
		}
		do.Preconditions = &metav1.Preconditions{UID: &sec.UID}
		if err := secrets.Delete(ctx, sec.Name, do); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("%s: credential secret %s: delete: %w", it.change.Key, sec.Name, err))
		}
	}
	return errors.Join(errs...)
}

func encodeLastApplied(it *item) json.RawMessage {
	b, err := json.Marshal(lastApplied{Deletable: it.deletable, Object: it.desired.Object, ResourceVersion: it.resourceVersion, UID: it.uid})
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

func (t *Target) save(ctx context.Context, e state.Entry) error {
	e.UpdatedAt = time.Now().UTC()
	if err := t.store.Save(ctx, e); err != nil {
		return fmt.Errorf("cluster %s: inventory of %s: %w", t.name, e.Tenant, err)
	}
	return nil
}

func entriesEqual(a, b state.Entry) bool {
	return maps.EqualFunc(a.Resources, b.Resources, func(x, y json.RawMessage) bool { return string(x) == string(y) })
}

// shed lets go of the desired objects of a tenant plan whose objects the
// request renders on demand (render.TenantOnDemand), and releases them:
// restore renders them again. Objects rendered up front stay, as the
// request holds them anyway.
func (tp *tenantPlan) shed() {
	if tp.from == nil || tp.from.Objects != nil {
		return
	}
	for _, it := range tp.items {
		if it.desired != nil {
			it.desired, it.shed = nil, true
		}
	}
	for _, it := range tp.unchanged {
		it.desired, it.shed = nil, true
	}
	tp.from.Release()
}

// restore renders the objects shed let go of again. Rendering is
// deterministic, so they are those the plan was made with; restore fails
// when one is missing.
func (tp *tenantPlan) restore() error {
	var byID map[string]*unstructured.Unstructured
	find := func(it *item, id string) error {
		if !it.shed {
			return nil
		}
		if byID == nil {
			byID = map[string]*unstructured.Unstructured{}
			for _, d := range tp.from.Desired() {
				byID[idOf(d)] = d
			}
		}
		d, ok := byID[id]
		if !ok {
			return fmt.Errorf("desired object %s: not rendered again", id)
		}
		it.desired, it.shed = d, false
		return nil
	}
	for _, it := range tp.items {
		if err := find(it, objectID(it.change.Kind, it.change.Namespace, it.change.Name)); err != nil {
			return err
		}
	}
	for id, it := range tp.unchanged {
		if err := find(it, id); err != nil {
			return err
		}
	}
	return nil
}

// notAttempted is the results of a tenant of which nothing was sent:
// each change's error is errOf's.
func notAttempted(tp *tenantPlan, errOf func(plan.Change) error) []plan.Result {
	out := make([]plan.Result, len(tp.items))
	for i, it := range tp.items {
		out[i] = plan.Result{Change: it.change}
		if it.change.Action != plan.Blocked {
			out[i].Err = errOf(it.change)
		}
	}
	return out
}

// changes are the tenant's planned changes.
func (tp *tenantPlan) changes() []*plan.Change {
	out := make([]*plan.Change, len(tp.items))
	for i, it := range tp.items {
		out[i] = &it.change
	}
	return out
}
