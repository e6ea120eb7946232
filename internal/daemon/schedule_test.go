package daemon

import (
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k3sync/k3sync/internal/render"
)

// TestScheduledDriftCheckReverts runs the daemon loop for real with the
// platform's drift schedule at one second (a tenant's may fire at most
// once a minute): an out-of-band edit of payments, whose policy is
// revert, is reverted by the schedule alone, with no call from the test.
func TestScheduledDriftCheckReverts(t *testing.T) {
	p := startPeers(t, 0)
	src := readFile(t, p.repo.Work+"/platform.cue")
	every := strings.Replace(src, `driftSchedule: "@every 5m"`, `driftSchedule: "@every 1s"`, 1)
	if every == src {
		t.Fatal(`the example's platform.cue has no driftSchedule: "@every 5m" to shorten`)
	}
	p.repo.WriteFile("platform.cue", every)
	p.repo.Commit("Check drift every second")
	d, err := New(p.cfg, Options{Now: weekdayClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	go func() { _ = d.Start(t.Context()) }()
	waitFor(t, time.Minute, "the first sync", func() bool { return d.Ready() == nil })

	cs := p.clusters["us-east"]
	rq, err := cs.CoreV1().ResourceQuotas("payments").Get(t.Context(), render.QuotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rq.Spec.Hard[corev1.ResourcePods] = resource.MustParse("1")
	if _, err := cs.CoreV1().ResourceQuotas("payments").Update(t.Context(), rq, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the scheduled drift check to revert the quota", func() bool {
		rq, err := cs.CoreV1().ResourceQuotas("payments").Get(t.Context(), render.QuotaName, metav1.GetOptions{})
		if err != nil {
			return false
		}
		pods := rq.Spec.Hard[corev1.ResourcePods]
		return pods.String() == "100"
	})
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
