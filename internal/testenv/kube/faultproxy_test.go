package kube

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	corev1 "k8s.io/api/core/v1"
)

// TestFaultProxy drives a real apiserver through the proxy with
// client-go, as k3sync's Kubernetes target does: requests pass, each
// kind of fault reaches the client as the error a real failure gives, a
// Skip lets the first requests through, and the record shows what was
// sent.
func TestFaultProxy(t *testing.T) {
	cp := StartT(t, 1)[0]
	p := StartFaultProxyT(t, cp)
	rc := p.RESTConfig()
	// Longer than the Retry-After below: client-go counts its wait in the
	// request's timeout.
	rc.Timeout = 3 * time.Second
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ns := func(name string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns("through"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	// 500: the client gets the Status, nothing reaches the apiserver.
	hits, err := p.Inject(Fault{Method: http.MethodPost, Path: `^/api/v1/namespaces$`, Count: 1, Status: http.StatusInternalServerError})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Namespaces().Create(ctx, ns("refused"), metav1.CreateOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "fault injected: 500") {
		t.Errorf("500: %v", err)
	}
	if hits() != 1 {
		t.Errorf("500 took %d requests, want 1", hits())
	}
	direct, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.CoreV1().Namespaces().Get(ctx, "refused", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a faulted create reached the apiserver: %v", err)
	}

	// 429 with Retry-After: client-go waits and sends it again.
	if _, err := p.Inject(Fault{Method: http.MethodGet, Path: `^/api/v1/namespaces/through$`, Count: 1, Status: http.StatusTooManyRequests, RetryAfter: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "through", metav1.GetOptions{}); err != nil {
		t.Errorf("429 then served: %v", err)
	}
	var got []Request
	for _, r := range p.Requests() {
		if r.Path == "/api/v1/namespaces/through" {
			got = append(got, r)
		}
	}
	if len(got) != 2 || got[0].Status != http.StatusTooManyRequests || !got[0].Faulted || got[1].Status != http.StatusOK || got[1].Time.Sub(got[0].Time) < time.Second {
		t.Errorf("429 then retry: %+v", got)
	}

	// A stall beyond the client's timeout, then a reset after one
	// request let through.
	if _, err := p.Inject(Fault{Method: http.MethodGet, Path: `^/api/v1/namespaces/stalled$`, Latency: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var timeout net.Error
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "stalled", metav1.GetOptions{}); !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Errorf("stall: %v, want a timeout", err)
	}
	p.ClearFaults()
	if _, err := p.Inject(Fault{Method: http.MethodPost, Skip: 1, Reset: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns("first"), metav1.CreateOptions{}); err != nil {
		t.Errorf("skipped by the reset: %v", err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns("second"), metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("reset: %v", err)
	}
	p.ClearFaults()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns("second"), metav1.CreateOptions{}); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
}
