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
package leader

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

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
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Name},
		Client:     e.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.cfg.Identity},
	}
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
	le.Run(ctx)
	e.leading.Store(false)
	return nil
}
