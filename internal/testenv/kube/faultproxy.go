package kube

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// Fault makes a FaultProxy misbehave as an overloaded or broken
// apiserver (or the load balancer in front of it) can, for requests that
// match Method and Path: answer Status (with Retry-After when set), stall
// Latency first, or reset the connection without an answer. A fault with
// neither Status nor Reset only delays the request, which is then
// forwarded. Faults never reach the apiserver: a faulted request is not
// forwarded.
type Fault struct {
	// Method matches the request method; "" matches any.
	Method string
	// Path is a regular expression matched against the request path
	// (e.g. `^/api/v1/namespaces/[^/]+/secrets`); "" matches any.
	Path string
	// Skip lets that many matching requests through before the fault
	// takes any: "reset in the middle of an apply".
	Skip int
	// Count is how many matching requests the fault takes after Skip; 0
	// means every one until ClearFaults.
	Count int
	// Status is the answer's status code (e.g. 500, 503, 429), with a
	// Kubernetes Status body.
	Status int
	// RetryAfter, with Status, is sent as Retry-After (whole seconds).
	RetryAfter time.Duration
	// Latency stalls the request this long, or until the client gives up
	// or the faults are cleared.
	Latency time.Duration
	// Reset closes the connection with a TCP reset instead of answering.
	Reset bool
}

// Request is one request the proxy received, as the test asserts on it.
type Request struct {
	// Time is when the request arrived.
	Time time.Time
	// Method and Path are the request's; Query its raw query.
	Method, Path, Query string
	// Status is the status code the client got: the fault's, the
	// apiserver's, 502 when the apiserver could not be reached, 0 for a
	// reset or a client that gave up during a stall.
	Status int
	// Faulted says a fault took the request (it was not forwarded).
	Faulted bool
}

// FaultProxy is an HTTPS reverse proxy in front of a ControlPlane's
// apiserver that injects faults and records every request. It terminates
// TLS with a serving certificate of the plane's CA (so the plane's CA
// verifies it) and speaks HTTP/1.1 only, so that a reset closes one
// request's connection; it reaches the apiserver as the admin, whoever the
// client is. Its methods are safe for concurrent use.
type FaultProxy struct {
	// URL is the proxy's address, https://127.0.0.1:<port>.
	URL string

	cp       *ControlPlane
	srv      *http.Server
	ln       net.Listener
	upstream *httputil.ReverseProxy
	dir      string

	mu       sync.Mutex
	faults   []*armedFault
	cleared  chan struct{} // closed by ClearFaults, then replaced
	requests []Request
}

type armedFault struct {
	Fault
	path *regexp.Regexp
	seen int // matching requests so far
	hits int // requests taken
}

// StartFaultProxy starts a fault proxy in front of cp. Close stops it.
func (cp *ControlPlane) StartFaultProxy() (*FaultProxy, error) {
	serving, err := cp.ca.servingCert()
	if err != nil {
		return nil, fmt.Errorf("fault proxy: %w", err)
	}
	cert, err := tls.X509KeyPair(serving.certPEM, serving.keyPEM)
	if err != nil {
		return nil, fmt.Errorf("fault proxy serving certificate: %w", err)
	}
	client, err := cp.httpClient()
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(cp.URL)
	if err != nil {
		return nil, fmt.Errorf("fault proxy: %w", err)
	}
	dir, err := os.MkdirTemp(cp.Dir, "faultproxy-")
	if err != nil {
		return nil, fmt.Errorf("fault proxy directory: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy: %w", err)
	}
	p := &FaultProxy{
		URL:     "https://" + ln.Addr().String(),
		cp:      cp,
		ln:      ln,
		dir:     dir,
		cleared: make(chan struct{}),
	}
	p.upstream = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		Transport:     client.Transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "fault proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		// HTTP/1.1 only: a reset takes one connection, one request.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	tl := tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	})
	go func() { _ = p.srv.Serve(tl) }()
	kc, err := kubeconfig(cp.Name, p.URL, cp.ca.certPEM, adminUser, cp.admin)
	if err == nil {
		err = os.WriteFile(p.KubeconfigPath(), kc, 0o600)
	}
	if err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("fault proxy kubeconfig: %w", err)
	}
	return p, nil
}

// KubeconfigPath is the path of an admin kubeconfig whose server is the
// proxy.
func (p *FaultProxy) KubeconfigPath() string { return filepath.Join(p.dir, "kubeconfig") }

// RESTConfig is an admin client config whose host is the proxy, with the
// rate limits of ControlPlane.RESTConfig.
func (p *FaultProxy) RESTConfig() *rest.Config {
	return restConfig(p.URL, p.cp.ca.certPEM, p.cp.admin)
}

// Inject arms a fault; the first armed fault that matches a request takes
// it. It returns a function reporting how many requests the fault took.
func (p *FaultProxy) Inject(f Fault) (hits func() int, err error) {
	a := &armedFault{Fault: f}
	if f.Path != "" {
		if a.path, err = regexp.Compile(f.Path); err != nil {
			return nil, fmt.Errorf("fault path: %w", err)
		}
	}
	p.mu.Lock()
	p.faults = append(p.faults, a)
	p.mu.Unlock()
	return func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return a.hits
	}, nil
}

// ClearFaults disarms every fault and ends the stalls in progress (their
// requests then fail or go on as their fault says).
func (p *FaultProxy) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
	close(p.cleared)
	p.cleared = make(chan struct{})
}

// Requests returns the requests received so far, in arrival order.
func (p *FaultProxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// Close stops the proxy and closes its connections.
func (p *FaultProxy) Close() error {
	p.mu.Lock()
	select {
	case <-p.cleared:
	default:
		close(p.cleared)
	}
	p.mu.Unlock()
	err := p.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, os.RemoveAll(p.dir))
}

// take returns the fault that takes r, if any, and counts it, and the
// channel that ClearFaults closes.
func (p *FaultProxy) take(r *http.Request) (Fault, bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.faults {
		if a.Method != "" && a.Method != r.Method || a.path != nil && !a.path.MatchString(r.URL.Path) {
			continue
		}
		a.seen++
		if a.seen <= a.Skip || a.Count > 0 && a.hits >= a.Count {
			continue
		}
		a.hits++
		return a.Fault, true, p.cleared
	}
	return Fault{}, false, p.cleared
}

// record appends a request as it arrives and returns its index.
func (p *FaultProxy) record(req Request) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, req)
	return len(p.requests) - 1
}

// update sets what became of request i.
func (p *FaultProxy) update(i int, status int, faulted bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[i].Status, p.requests[i].Faulted = status, faulted
}

func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok, cleared := p.take(r)
	i := p.record(Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Faulted: ok})
	// The status is recorded before the client can read it.
	forward := func() {
		p.upstream.ServeHTTP(&statusWriter{ResponseWriter: w, wrote: func(status int) { p.update(i, status, false) }}, r)
	}
	if !ok {
		forward()
		return
	}
	if f.Latency > 0 {
		timer := time.NewTimer(f.Latency)
		select {
		case <-timer.C:
		case <-cleared:
		case <-r.Context().Done():
			timer.Stop()
			return // the client gave up
		}
		timer.Stop()
	}
	switch {
	case f.Reset:
		reset(w)
	case f.Status != 0:
		p.update(i, f.Status, true)
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		_, _ = fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"fault injected: %d %s","reason":%q,"code":%d}`,
			f.Status, http.StatusText(f.Status), reason(f.Status), f.Status)
	default: // latency only: then served
		forward()
	}
}

// reset closes the request's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}

func reason(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case http.StatusGatewayTimeout:
		return "Timeout"
	default:
		return "InternalError"
	}
}

// statusWriter calls wrote with the status code before writing it.
type statusWriter struct {
	http.ResponseWriter
	wrote  func(status int)
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		s.wrote(code)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b) //nolint:wrapcheck // a writer passes errors through
}

func (s *statusWriter) Flush() { http.NewResponseController(s.ResponseWriter).Flush() } //nolint:errcheck // best effort

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
