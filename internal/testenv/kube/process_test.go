package kube

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

// TestRetryPortsOnAddressInUse hands etcd and kube-apiserver a port that is
// already taken on their first attempt: Start must notice from their output
// and retry with fresh ports instead of failing.
func TestRetryPortsOnAddressInUse(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bins, err := findBinaries(Options{})
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }()
	takenPort := taken.Addr().(*net.TCPAddr).Port

	cp := &ControlPlane{Dir: t.TempDir()}
	t.Cleanup(func() { _ = cp.Stop() })
	opts := Options{StartTimeout: 30 * time.Second}
	files, err := cp.writePKI()
	if err != nil {
		t.Fatal(err)
	}

	attempts := 0
	client := &http.Client{Timeout: 2 * time.Second}
	err = cp.retryPorts(ctx, 2, func(ports []int) (*proc.Process, error) {
		if attempts++; attempts == 1 {
			ports[0] = takenPort
		}
		return cp.tryEtcd(ctx, bins.etcd, opts, client, ports[0], ports[1])
	})
	if err != nil {
		t.Fatalf("etcd: %v", err)
	}
	if attempts != 2 || strings.HasSuffix(cp.EtcdURL, ":"+strconv.Itoa(takenPort)) {
		t.Fatalf("etcd: %d attempts, serving on %s; want 2 attempts, not on port %d", attempts, cp.EtcdURL, takenPort)
	}

	attempts = 0
	apiClient, err := cp.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	err = cp.retryPorts(ctx, 1, func(ports []int) (*proc.Process, error) {
		if attempts++; attempts == 1 {
			ports[0] = takenPort
		}
		return cp.tryAPIServer(ctx, bins.apiserver, files, opts, apiClient, ports[0])
	})
	if err != nil {
		t.Fatalf("kube-apiserver: %v", err)
	}
	if attempts != 2 || strings.HasSuffix(cp.URL, ":"+strconv.Itoa(takenPort)) {
		t.Fatalf("kube-apiserver: %d attempts, serving on %s; want 2 attempts, not on port %d", attempts, cp.URL, takenPort)
	}
}
