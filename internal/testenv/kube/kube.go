package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

const (
	// defaultStartTimeout bounds each readiness wait when
	// Options.StartTimeout is zero. A plane is normally ready in seconds; the
	// margin is for loaded CI machines.
	defaultStartTimeout = 90 * time.Second

	// portAttempts is how often a process is started with fresh ports when
	// the ones picked were taken in the meantime.
	portAttempts = 3

	// serviceClusterIPRange is the apiserver's --service-cluster-ip-range.
	serviceClusterIPRange = "10.0.0.0/24"

	// adminUser is the identity of Kubeconfig and RESTConfig.
	adminUser = "k3sync-admin"
)

// Options configures Start. The zero value is a plane without controller
// manager, binaries found as described in the package documentation.
type Options struct {
	// Name names the plane's cluster and context in its kubeconfigs and
	// prefixes its temporary directory. Empty means "k3sync-<port>", where
	// port is the apiserver's.
	Name string

	// BinDir is the directory holding kube-apiserver, etcd and
	// kube-controller-manager. Empty means $KUBE_BIN_DIR, then
	// <repo root>/bin/k8s-<Version>.
	BinDir string

	// ControllerManager also starts a kube-controller-manager, so that
	// namespaces finish deleting, namespaces get their default
	// ServiceAccount, garbage collection runs, and so on.
	ControllerManager bool

	// StartTimeout bounds the wait for each process to become ready. Zero
	// means 90 s.
	StartTimeout time.Duration

	// Output, if not nil, also receives the stdout and stderr of all the
	// processes (they are always written to <Dir>/<process>.log). It is no
	// longer written to once Stop has returned.
	Output io.Writer

	// APIServerFlags are appended to the kube-apiserver command line, e.g.
	// "--feature-gates=...". For single-valued flags the last one wins.
	APIServerFlags []string
}

// ControlPlane is one running etcd + kube-apiserver (+ optional
// kube-controller-manager). Its methods are safe for concurrent use.
type ControlPlane struct {
	// Name is the cluster and context name in its kubeconfigs.
	Name string
	// URL is the apiserver's address, https://127.0.0.1:<port>.
	URL string
	// EtcdURL is the client address of its etcd, http://127.0.0.1:<port>.
	EtcdURL string
	// Dir is its temporary directory: certificates, keys, the admin
	// kubeconfig, etcd's data and the processes' logs. Stop removes it.
	Dir string

	ca         *pki
	admin      keyPair
	kubeconfig []byte

	mu       sync.Mutex
	procs    []*proc.Process // in start order
	stopOnce sync.Once
	stopErr  error
}

// Start starts a control plane and waits until its apiserver is ready. ctx
// bounds the start-up only; the processes run until Stop. On error nothing is
// left running and the directory is removed.
func Start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start kube control plane: %w", err)
	}
	bins, err := findBinaries(opts)
	if err != nil {
		return nil, err
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	prefix := "k3sync-kube-"
	if opts.Name != "" {
		prefix = opts.Name + "-"
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, fmt.Errorf("kube control plane directory: %w", err)
	}
	cp := &ControlPlane{Dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, cp.Stop())
		}
	}()

	files, err := cp.writePKI()
	if err != nil {
		return nil, fmt.Errorf("kube control plane certificates: %w", err)
	}
	if err := cp.startEtcd(ctx, bins.etcd, opts); err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	if err := cp.startAPIServer(ctx, bins.apiserver, files, opts); err != nil {
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	cp.Name = opts.Name
	if cp.Name == "" {
		cp.Name = "k3sync-" + cp.URL[strings.LastIndexByte(cp.URL, ':')+1:]
	}
	cp.kubeconfig, err = kubeconfig(cp.Name, cp.URL, cp.ca.certPEM, adminUser, cp.admin)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(cp.KubeconfigPath(), cp.kubeconfig, 0o600); err != nil {
		return nil, fmt.Errorf("write admin kubeconfig: %w", err)
	}
	if opts.ControllerManager {
		if err := cp.startControllerManager(ctx, bins.controllerManager, files, opts); err != nil {
			return nil, fmt.Errorf("start kube-controller-manager: %w", err)
		}
	}
	return cp, nil
}

// pkiFiles are the paths of the files writePKI wrote.
type pkiFiles struct {
	caCert, servingCert, servingKey, saKey, saPub string
}

func (cp *ControlPlane) writePKI() (pkiFiles, error) {
	var err error
	if cp.ca, err = newPKI(); err != nil {
		return pkiFiles{}, err
	}
	serving, err := cp.ca.servingCert()
	if err != nil {
		return pkiFiles{}, err
	}
	if cp.admin, err = cp.ca.clientCert(adminUser, []string{"system:masters"}); err != nil {
		return pkiFiles{}, err
	}
	saKey, saPub, err := serviceAccountKeys()
	if err != nil {
		return pkiFiles{}, err
	}
	pkiDir := filepath.Join(cp.Dir, "pki")
	if err := os.Mkdir(pkiDir, 0o700); err != nil {
		return pkiFiles{}, fmt.Errorf("pki directory: %w", err)
	}
	f := pkiFiles{
		caCert:      filepath.Join(pkiDir, "ca.crt"),
		servingCert: filepath.Join(pkiDir, "apiserver.crt"),
		servingKey:  filepath.Join(pkiDir, "apiserver.key"),
		saKey:       filepath.Join(pkiDir, "sa.key"),
		saPub:       filepath.Join(pkiDir, "sa.pub"),
	}
	for path, data := range map[string][]byte{
		f.caCert:                           cp.ca.certPEM,
		f.servingCert:                      serving.certPEM,
		f.servingKey:                       serving.keyPEM,
		f.saKey:                            saKey,
		f.saPub:                            saPub,
		filepath.Join(pkiDir, "admin.crt"): cp.admin.certPEM,
		filepath.Join(pkiDir, "admin.key"): cp.admin.keyPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return pkiFiles{}, fmt.Errorf("write %s: %w", filepath.Base(path), err)
		}
	}
	return f, nil
}

func (cp *ControlPlane) startEtcd(ctx context.Context, bin string, opts Options) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	return cp.retryPorts(ctx, 2, func(ports []int) (*proc.Process, error) {
		return cp.tryEtcd(ctx, bin, opts, client, ports[0], ports[1])
	})
}

// tryEtcd starts etcd on the given ports and waits until it is healthy.
func (cp *ControlPlane) tryEtcd(ctx context.Context, bin string, opts Options, client *http.Client, clientPort, peerPort int) (*proc.Process, error) {
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	// A fresh data directory per attempt: a failed attempt may have
	// initialized one with another peer URL.
	dataDir, err := os.MkdirTemp(cp.Dir, "etcd-")
	if err != nil {
		return nil, fmt.Errorf("etcd data directory: %w", err)
	}
	p, err := startProcess(ctx, "etcd", bin, cp.Dir, []string{
		"--name=k3sync",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=k3sync=" + peerURL,
		"--initial-cluster-state=new",
		// Throw-away data: durability only costs time.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}, opts.Output)
	if err != nil {
		return nil, err
	}
	err = proc.WaitReady(ctx, p, pollInterval, opts.StartTimeout, clientURL+"/health", func(ctx context.Context) error {
		return proc.Probe(ctx, client, clientURL+"/health", `"health":"true"`)
	})
	if err != nil {
		return p, err
	}
	cp.EtcdURL = clientURL
	return p, nil
}

func (cp *ControlPlane) startAPIServer(ctx context.Context, bin string, f pkiFiles, opts Options) error {
	client, err := cp.httpClient()
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	return cp.retryPorts(ctx, 1, func(ports []int) (*proc.Process, error) {
		return cp.tryAPIServer(ctx, bin, f, opts, client, ports[0])
	})
}

// tryAPIServer starts kube-apiserver on port and waits until it is ready.
func (cp *ControlPlane) tryAPIServer(ctx context.Context, bin string, f pkiFiles, opts Options, client *http.Client, port int) (*proc.Process, error) {
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// Endpoints may not point at loopback addresses, so the
		// "kubernetes" Service gets none: nothing in-cluster would use it.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(cp.Dir, "pki"),
		"--tls-cert-file=" + f.servingCert,
		"--tls-private-key-file=" + f.servingKey,
		"--client-ca-file=" + f.caCert,
		"--etcd-servers=" + cp.EtcdURL,
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f.saPub,
		"--service-account-signing-key-file=" + f.saKey,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--profiling=false",
	}
	args = append(args, opts.APIServerFlags...)
	p, err := startProcess(ctx, "kube-apiserver", bin, cp.Dir, args, opts.Output)
	if err != nil {
		return nil, err
	}
	err = proc.WaitReady(ctx, p, pollInterval, opts.StartTimeout, url+"/readyz", func(ctx context.Context) error {
		return proc.Probe(ctx, client, url+"/readyz", "ok")
	})
	if err != nil {
		return p, err
	}
	cp.URL = url
	return p, nil
}

// startControllerManager runs kube-controller-manager as the admin, without
// leader election or a serving port. It is ready once the serviceaccount
// controller created the default ServiceAccount of the "default" namespace:
// that shows that controllers run, and Pods can then be created there.
func (cp *ControlPlane) startControllerManager(ctx context.Context, bin string, f pkiFiles, opts Options) error {
	client, err := cp.httpClient()
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	p, err := startProcess(ctx, "kube-controller-manager", bin, cp.Dir, []string{
		"--kubeconfig=" + cp.KubeconfigPath(),
		"--secure-port=0",
		"--leader-elect=false",
		"--root-ca-file=" + f.caCert,
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--profiling=false",
	}, opts.Output)
	if err != nil {
		return err
	}
	cp.addProcess(p)
	sa := cp.URL + "/api/v1/namespaces/default/serviceaccounts/default"
	return proc.WaitReady(ctx, p, pollInterval, opts.StartTimeout, "default ServiceAccount", func(ctx context.Context) error {
		return proc.Probe(ctx, client, sa, "")
	})
}

// retryPorts runs start with nPorts fresh free ports until it does not fail
// for a port taken in the meantime, at most portAttempts times. Processes it
// returns are registered for Stop, failed or not.
func (cp *ControlPlane) retryPorts(ctx context.Context, nPorts int, start func(ports []int) (*proc.Process, error)) error {
	var err error
	for range portAttempts {
		var ports []int
		if ports, err = proc.FreePorts(ctx, nPorts); err != nil {
			return err
		}
		var p *proc.Process
		p, err = start(ports)
		if p != nil {
			cp.addProcess(p)
		}
		if p == nil || !proc.AddrInUse(err) {
			return err
		}
		p.Stop()
	}
	return err
}

func (cp *ControlPlane) addProcess(p *proc.Process) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.procs = append(cp.procs, p)
}

// httpClient is an admin HTTPS client for the apiserver, for probes.
func (cp *ControlPlane) httpClient() (*http.Client, error) {
	cert, err := tls.X509KeyPair(cp.admin.certPEM, cp.admin.keyPEM)
	if err != nil {
		return nil, fmt.Errorf("admin client certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cp.ca.cert)
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{
				RootCAs:      roots,
				Certificates: []tls.Certificate{cert},
				MinVersion:   tls.VersionTLS12,
			},
		},
	}, nil
}

// Kubeconfig returns a kubeconfig for the admin user (group
// system:masters), with certificates embedded.
func (cp *ControlPlane) Kubeconfig() []byte {
	return slices.Clone(cp.kubeconfig)
}

// KubeconfigPath returns the path of the file holding Kubeconfig, in Dir.
func (cp *ControlPlane) KubeconfigPath() string {
	return filepath.Join(cp.Dir, "kubeconfig")
}

// RESTConfig returns a new admin client config. Its client-side rate
// limits are raised for tests (500 QPS, burst 1000).
func (cp *ControlPlane) RESTConfig() *rest.Config {
	return restConfig(cp.URL, cp.ca.certPEM, cp.admin)
}

// KubeconfigFor returns a kubeconfig authenticating as user in groups with
// a client certificate signed by the plane's CA. The apiserver also adds
// the group system:authenticated. Unless RBAC grants them something, such
// users can do (almost) nothing: use it for least-privilege tests.
func (cp *ControlPlane) KubeconfigFor(user string, groups ...string) ([]byte, error) {
	creds, err := cp.ca.clientCert(user, groups)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for %s: %w", user, err)
	}
	return kubeconfig(cp.Name, cp.URL, cp.ca.certPEM, user, creds)
}

// RESTConfigFor is KubeconfigFor as a client config, with the rate limits
// of RESTConfig.
func (cp *ControlPlane) RESTConfigFor(user string, groups ...string) (*rest.Config, error) {
	creds, err := cp.ca.clientCert(user, groups)
	if err != nil {
		return nil, fmt.Errorf("client config for %s: %w", user, err)
	}
	return restConfig(cp.URL, cp.ca.certPEM, creds), nil
}

// Stop kills the processes, waits for them to exit and removes Dir. It may
// be called more than once; later calls return the first result.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() {
		cp.mu.Lock()
		procs := slices.Clone(cp.procs)
		cp.mu.Unlock()
		// Reverse start order: clients before the servers they talk to.
		for _, p := range slices.Backward(procs) {
			p.Stop()
		}
		if err := os.RemoveAll(cp.Dir); err != nil {
			cp.stopErr = fmt.Errorf("remove kube control plane directory: %w", err)
		}
	})
	return cp.stopErr
}
