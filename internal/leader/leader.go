// Package leader runs a function only while this process holds a
// coordination.k8s.io Lease, so that of several k3sync replicas exactly
// one applies at a time.
//
// # Model
//
// client-go's leader election: the holder renews the Lease every
// RetryPeriod; when it stops renewing (crash, partition), another replica
// takes over once LeaseDuration has passed since the last renewal. When
// leadership is lost the function's context is cancelled and Run returns,
// so a replica that lost the Lease stops applying at once. ReleaseOnCancel
// hands the Lease over immediately on a clean shutdown.
//
// # Fencing
//
// The lead function's context is cancelled only once client-go notices
// the loss, up to RenewDeadline after the last renewal; work already in
// flight may still try to write. [Elector.Fence] is what a writer asks
// right before each write: it refuses unless this replica leads, last saw
// itself as the holder, and renewed the Lease less than RenewDeadline ago.
// Another replica takes over only once LeaseDuration (> RenewDeadline)
// has passed without a renewal, so a write the fence lets through is sent
// while no other replica can lead yet. [Holder] reads the Lease for
// processes that do not compete (the CLI), to refuse while a daemon leads.
package leader

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Config says which Lease to hold.
type Config struct {
	Namespace string
	Name      string
	// Identity of this replica (the pod name).
	Identity      string
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// Elector holds the Lease while running the leader's work.
type Elector struct {
	cfg     Config
	client  kubernetes.Interface
	leading atomic.Bool
	// le is the running elector, for Fence.
	le atomic.Pointer[leaderelection.LeaderElector]
	// renewed is when this replica last wrote the Lease as its holder
	// (UnixNano, taken before the write was sent).
	renewed atomic.Int64
}

// New returns an elector; defaults: 15 s lease, 10 s renew deadline, 2 s
// retry, as controller-runtime.
func New(client kubernetes.Interface, cfg Config) (*Elector, error) {
	if cfg.Namespace == "" || cfg.Name == "" || cfg.Identity == "" {
		return nil, errors.New("leader election: namespace, name and identity are required")
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 15 * time.Second
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = 10 * time.Second
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = 2 * time.Second
	}
	return &Elector{cfg: cfg, client: client}, nil
}

// Leading reports whether this replica holds the Lease now.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Run campaigns for the Lease and runs lead while holding it. It returns
// when ctx ends or leadership is lost (lead's context is cancelled first).
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) error {
	lock := &renewLock{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Name},
		Client:     e.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.cfg.Identity},
	}, renewed: &e.renewed}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   e.cfg.LeaseDuration,
		RenewDeadline:   e.cfg.RenewDeadline,
		RetryPeriod:     e.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            e.cfg.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				e.leading.Store(true)
				lead(ctx)
			},
			OnStoppedLeading: func() { e.leading.Store(false) },
		},
	})
	if err != nil {
		return fmt.Errorf("leader election %s/%s: %w", e.cfg.Namespace, e.cfg.Name, err)
	}
	e.le.Store(le)
	le.Run(ctx)
	e.leading.Store(false)
	return nil
}

// Fence is nil while this replica may write shared state: it leads, the
// last Lease it read names it as holder, and it renewed the Lease less
// than RenewDeadline ago. Otherwise it says why not.
func (e *Elector) Fence() error {
	le := e.le.Load()
	if !e.leading.Load() || le == nil {
		return fmt.Errorf("lease %s/%s: this replica (%s) is not the leader", e.cfg.Namespace, e.cfg.Name, e.cfg.Identity)
	}
	if !le.IsLeader() {
		return fmt.Errorf("lease %s/%s: held by %s, not this replica (%s)", e.cfg.Namespace, e.cfg.Name, le.GetLeader(), e.cfg.Identity)
	}
	if since := time.Since(time.Unix(0, e.renewed.Load())); since >= e.cfg.RenewDeadline {
		return fmt.Errorf("lease %s/%s: last renewed %s ago, past the %s renew deadline: another replica may lead",
			e.cfg.Namespace, e.cfg.Name, since.Round(time.Millisecond), e.cfg.RenewDeadline)
	}
	return nil
}

// renewLock records when this replica last wrote the Lease as holder.
type renewLock struct {
	resourcelock.Interface
	renewed *atomic.Int64
}

func (l *renewLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.record(r, func() error { return l.Interface.Create(ctx, r) })
}

func (l *renewLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return l.record(r, func() error { return l.Interface.Update(ctx, r) })
}

func (l *renewLock) record(r resourcelock.LeaderElectionRecord, write func() error) error {
	sent := time.Now()
	if err := write(); err != nil {
		return err //nolint:wrapcheck // client-go's own lock errors
	}
	if r.HolderIdentity == l.Identity() {
		l.renewed.Store(sent.UnixNano())
	}
	return nil
}

// Holder reads the Lease namespace/name and returns who holds it and
// until when, by now; "" when nobody does (never taken, released on a
// clean shutdown, or expired).
func Holder(ctx context.Context, client kubernetes.Interface, namespace, name string, now time.Time) (string, time.Time, error) {
	l, err := client.CoordinationV1().Leases(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("lease %s/%s: %w", namespace, name, err)
	}
	s := l.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" || s.RenewTime == nil || s.LeaseDurationSeconds == nil {
		return "", time.Time{}, nil
	}
	until := s.RenewTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second)
	if !until.After(now) {
		return "", time.Time{}, nil
	}
	return *s.HolderIdentity, until, nil
}
