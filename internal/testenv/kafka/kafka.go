package kafka

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

const (
	// Mechanism is the SASL mechanism of the client listener.
	Mechanism = "SCRAM-SHA-512"

	// AdminUser is the super user every cluster has, with a SCRAM-SHA-512
	// credential created when the storage is formatted.
	AdminUser = "k3sync-admin"

	// defaultStartTimeout bounds the readiness wait when
	// Options.StartTimeout is zero. One node is ready in 4 to 6 s on 2
	// cores; the margin is for loaded CI machines.
	defaultStartTimeout = 2 * time.Minute

	// defaultHeapMB is the maximum heap of each JVM when Options.HeapMB is
	// zero.
	defaultHeapMB = 384

	// portAttempts is how often the nodes are started with fresh ports
	// when one picked was taken in the meantime.
	portAttempts = 3

	// portsPerNode: SASL_PLAINTEXT, INTERNAL, CONTROLLER, PLAINTEXT.
	portsPerNode = 4

	// metadataDir is the KRaft metadata log's directory in a log dir.
	metadataDir = "__cluster_metadata-0"
)

// Options configures Start. The zero value is one node, SASL only, with
// the jars found as described in the package documentation.
type Options struct {
	// BinDir is the directory whose libs/ holds the jars. Empty means
	// $KAFKA_BIN_DIR, then <repo root>/bin/kafka-<Version>.
	BinDir string

	// Brokers is the number of nodes, each a broker and a KRaft controller
	// (a voter of the metadata quorum). Zero means 1.
	Brokers int

	// Plaintext also opens a PLAINTEXT listener on every node (see
	// Cluster.PlaintextBootstrap). Its clients are ANONYMOUS, a super user.
	Plaintext bool

	// HeapMB is the maximum heap of each node's JVM in MiB (-Xmx); the
	// initial heap is 128 MiB or less. Zero means 384.
	HeapMB int

	// StartTimeout bounds the wait for the cluster to become ready. Zero
	// means 2 minutes.
	StartTimeout time.Duration

	// ServerProperties are broker settings of the test's own, written
	// to every node's server.properties: each replaces the harness's
	// setting of the same key (see the package documentation), or is
	// added. For what a test needs of the broker, such as another SASL
	// mechanism on the client listener, or a topic config's default set
	// in the file (STATIC_BROKER_CONFIG). Settings the harness depends
	// on (listeners, ports, directories, the quorum, the super users) are
	// the test's to keep working.
	ServerProperties map[string]string

	// Logs, if not nil, also receives the broker logs of all nodes, each
	// line prefixed with the node's name (they are always written to
	// <LogDir>/node-<id>/server.log). It is no longer written to once
	// Stop has returned.
	Logs io.Writer
}

// Cluster is a running Kafka cluster. Its methods are safe for concurrent
// use.
type Cluster struct {
	dir           string
	nodes         []*node
	inst          installation
	adminPassword string
	startup       time.Duration

	mu    sync.Mutex
	procs []*proc.Process

	keep     atomic.Bool // keep dir on Stop: the test failed
	stopOnce sync.Once
	stopErr  error
}

// Start starts a Kafka cluster, formats its storage and waits until a
// client authenticated as AdminUser sees every broker in the metadata.
// ctx bounds the start-up only; the cluster runs until Stop. On error
// nothing is left running; once the nodes were configured, the directory
// is kept for its logs and the error names it.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	begin := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	inst, err := findInstallation(opts.BinDir)
	if err != nil {
		return nil, err
	}
	if opts.Brokers <= 0 {
		opts.Brokers = 1
	}
	if opts.HeapMB <= 0 {
		opts.HeapMB = defaultHeapMB
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	tmp, err := os.MkdirTemp("", "k3sync-kafka-")
	if err != nil {
		return nil, fmt.Errorf("kafka directory: %w", err)
	}
	dir, err := filepath.EvalSymlinks(tmp)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("kafka directory: %w", err), os.RemoveAll(tmp))
	}
	c := &Cluster{dir: dir, inst: inst, adminPassword: "k3s-" + randomString(18)}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	clusterID, err := randomUUID()
	if err != nil {
		return nil, err
	}
	for range portAttempts {
		if err = c.tryStart(ctx, opts, clusterID); err == nil || !c.portTaken() {
			break
		}
		c.kill()
	}
	if err != nil {
		c.keep.Store(true)
		return nil, fmt.Errorf("start kafka (%d node(s), logs kept in %s): %w", opts.Brokers, c.dir, err)
	}
	c.startup = time.Since(begin)
	return c, nil
}

// tryStart picks ports, writes the configuration, formats the storage of
// every node, starts them and waits until they are ready.
func (c *Cluster) tryStart(ctx context.Context, opts Options, clusterID string) error {
	ports, err := proc.FreePorts(ctx, opts.Brokers*portsPerNode)
	if err != nil {
		return err //nolint:wrapcheck // proc's error says what failed
	}
	nodes := make([]*node, opts.Brokers)
	for i := range nodes {
		p := ports[i*portsPerNode:]
		nodes[i] = &node{
			id:             i + 1,
			dir:            filepath.Join(c.dir, fmt.Sprintf("node-%d", i+1)),
			saslPort:       p[0],
			internalPort:   p[1],
			controllerPort: p[2],
		}
		if opts.Plaintext {
			nodes[i].plaintextPort = p[3]
		}
	}
	c.mu.Lock()
	c.nodes = nodes
	c.mu.Unlock()
	for _, n := range nodes {
		// A retry starts from scratch: a failed start may have written to
		// the log directories.
		if err := os.RemoveAll(n.dir); err != nil {
			return fmt.Errorf("%s directory: %w", n.name(), err)
		}
		if err := writeNodeFiles(n, nodes, AdminUser, opts.Logs != nil, opts.ServerProperties); err != nil {
			return err
		}
	}
	if err := c.format(ctx, clusterID); err != nil {
		return err
	}
	for _, n := range nodes {
		p, err := startNode(ctx, c.inst, n, opts.HeapMB, opts.Logs)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.procs = append(c.procs, p)
		c.mu.Unlock()
	}
	return c.waitReady(ctx, opts.StartTimeout)
}

// format formats the storage of every node as `kafka-storage format`
// does, with AdminUser's SCRAM credential in the bootstrap metadata. The
// quorum is static (controller.quorum.voters). Only the first node runs
// the storage tool, a JVM start of 1 to 2 s: the bootstrap snapshot it
// writes holds no node-specific data, so the other nodes get a copy of it
// and a meta.properties of their own.
func (c *Cluster) format(ctx context.Context, clusterID string) error {
	first := c.nodes[0]
	scramArg := fmt.Sprintf("%s=[name=%s,password=%s]", Mechanism, AdminUser, c.adminPassword)
	cmd := command(ctx, c.inst, first, "kafka.tools.StorageTool", "format",
		"--config", first.configPath(), "--cluster-id", clusterID, "--add-scram", scramArg)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("format the storage of %s: %w; output:\n%s", first.name(), err, proc.Tail(out))
	}
	src := filepath.Join(first.dataDir(), metadataDir)
	files, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("formatted storage of %s: %w", first.name(), err)
	}
	for _, n := range c.nodes[1:] {
		dst := filepath.Join(n.dataDir(), metadataDir)
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return fmt.Errorf("format the storage of %s: %w", n.name(), err)
		}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(src, f.Name()))
			if err != nil {
				return fmt.Errorf("format the storage of %s: %w", n.name(), err)
			}
			if err := os.WriteFile(filepath.Join(dst, f.Name()), b, 0o600); err != nil {
				return fmt.Errorf("format the storage of %s: %w", n.name(), err)
			}
		}
		dirID, err := randomUUID()
		if err != nil {
			return err
		}
		meta := fmt.Sprintf("#\n#Written by k3sync's internal/testenv/kafka\nnode.id=%d\ndirectory.id=%s\nversion=1\ncluster.id=%s\n", n.id, dirID, clusterID)
		if err := os.WriteFile(filepath.Join(n.dataDir(), "meta.properties"), []byte(meta), 0o600); err != nil {
			return fmt.Errorf("format the storage of %s: %w", n.name(), err)
		}
	}
	return nil
}

// waitReady waits until a client authenticated as AdminUser gets metadata
// listing every broker. Any node exiting ends the wait.
func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	want := len(c.nodes)
	err = proc.WaitReady(ctx, c.procs[0], pollInterval, timeout, fmt.Sprintf("metadata listing %d broker(s)", want), func(ctx context.Context) error {
		for i, p := range c.procs[1:] {
			if p.Exited() {
				return proc.GiveUp(fmt.Errorf("%s exited", c.nodes[i+1].name()))
			}
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{} // brokers only
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			if errors.Is(err, kerr.SaslAuthenticationFailed) {
				return proc.GiveUp(fmt.Errorf("authenticate as %s: %w", AdminUser, err))
			}
			return fmt.Errorf("metadata: %w", err)
		}
		if len(resp.Brokers) < want {
			return fmt.Errorf("metadata lists %d of %d brokers", len(resp.Brokers), want)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w%s", err, c.serverLogTails())
	}
	return nil
}

// serverLogTails quotes the end of the broker log of every node that
// logged an error, or of the first node if none did: the processes' own
// output is nearly empty since log4j writes to server.log.
func (c *Cluster) serverLogTails() string {
	var b strings.Builder
	for i, n := range c.nodes {
		log, err := os.ReadFile(n.serverLog())
		if err != nil {
			continue
		}
		if i == 0 || bytes.Contains(log, []byte(" ERROR ")) {
			fmt.Fprintf(&b, "\n%s ends with:\n%s", n.serverLog(), proc.Tail(log))
		}
	}
	return b.String()
}

// portTaken reports whether a node could not bind a port: another process
// took it between FreePorts and the bind.
func (c *Cluster) portTaken() bool {
	for _, n := range c.nodes {
		if log, err := os.ReadFile(n.serverLog()); err == nil && bytes.Contains(bytes.ToLower(log), []byte("address already in use")) {
			return true
		}
	}
	return false
}

// kill kills every node at once and forgets them.
func (c *Cluster) kill() {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	for _, p := range procs {
		p.Stop()
	}
}

// Client returns a new franz-go client of the cluster authenticated as
// AdminUser over SASL_PLAINTEXT, with opts added. The caller closes it.
func (c *Cluster) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	return c.ClientAs(AdminUser, c.adminPassword, opts...)
}

// ClientAs is Client authenticated as user with password (SCRAM-SHA-512).
func (c *Cluster) ClientAs(user, password string, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(c.Bootstrap()...),
		kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()),
		kgo.DialTimeout(5 * time.Second),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client as %s: %w", user, err)
	}
	return cl, nil
}

// Bootstrap returns the SASL_PLAINTEXT (SCRAM-SHA-512) address of every
// broker, host:port.
func (c *Cluster) Bootstrap() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.saslAddr()
	}
	return addrs
}

// PlaintextBootstrap returns the PLAINTEXT address of every broker, or nil
// without Options.Plaintext. Its clients are ANONYMOUS, a super user:
// authorization is not enforced there.
func (c *Cluster) PlaintextBootstrap() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var addrs []string
	for _, n := range c.nodes {
		if a := n.plaintextAddr(); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// AdminUser returns the super user's name and password.
func (c *Cluster) AdminUser() (user, password string) { return AdminUser, c.adminPassword }

// Mechanism returns the SASL mechanism of Bootstrap, "SCRAM-SHA-512".
func (c *Cluster) Mechanism() string { return Mechanism }

// StartupTime returns how long Start took, from its call until the
// cluster was ready.
func (c *Cluster) StartupTime() time.Duration { return c.startup }

// LogDir returns the cluster's directory: node-<id>/server.log is the
// broker log of each node, next to its server.properties, its data/ and
// kafka-<id>.log (the JVM's own output). Stop removes it, unless StartT's
// test failed.
func (c *Cluster) LogDir() string { return c.dir }

// Stop stops every node cleanly (SIGTERM, then SIGKILL after 30 s) in
// parallel, waits for them to exit and removes LogDir. It may be called
// more than once; later calls return the first result. An error reports a
// node that had to be killed or a directory that could not be removed.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		procs, nodes := c.procs, c.nodes
		c.mu.Unlock()
		errs := make([]error, len(procs))
		var wg sync.WaitGroup
		for i, p := range procs {
			wg.Go(func() {
				if !p.Terminate(stopGrace) {
					errs[i] = fmt.Errorf("%s did not stop within %s: killed", nodes[i].name(), stopGrace)
				}
			})
		}
		wg.Wait()
		if !c.keep.Load() {
			if err := os.RemoveAll(c.dir); err != nil {
				errs = append(errs, fmt.Errorf("remove kafka directory: %w", err))
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// CreateUser creates (or updates) user's SCRAM-SHA-512 credential as
// AdminUser and waits until the user can authenticate, which happens on
// every broker once the metadata change reached it. The user has no ACLs.
func (c *Cluster) CreateUser(ctx context.Context, user, password string) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{
		User:       user,
		Mechanism:  kadm.ScramSha512,
		Iterations: 4096,
		Password:   password,
	}})
	if err != nil {
		return fmt.Errorf("create kafka user %s: %w", user, err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("create kafka user %s: %w (%s)", user, r.Err, r.ErrMessage)
		}
	}
	// Authenticating against each broker proves the credential is there.
	for _, addr := range c.Bootstrap() {
		if err := c.waitLogin(ctx, addr, user, password); err != nil {
			return err
		}
	}
	return nil
}

// waitLogin retries authenticating as user on one broker for up to 30 s.
func (c *Cluster) waitLogin(ctx context.Context, addr, user, password string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()))
		if err != nil {
			return fmt.Errorf("kafka client as %s: %w", user, err)
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		req := kmsg.NewPtrApiVersionsRequest()
		_, err = req.RequestWith(rctx, cl)
		cancel()
		cl.Close()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("kafka user %s cannot authenticate on %s: %w", user, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// randomUUID returns a random ID as Kafka's Uuid.randomUuid makes them
// (cluster and directory IDs): 16 random bytes, base64url without
// padding, never starting with '-' (it would read as an option on a
// command line) and never one of the reserved IDs (all zeros, or zeros
// ending in 1 or 2).
func randomUUID() (string, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("random id: %w", err)
		}
		id := base64.RawURLEncoding.EncodeToString(b)
		if !strings.HasPrefix(id, "-") && !bytes.Equal(b[:15], make([]byte, 15)) {
			return id, nil
		}
	}
}

// randomString returns n random lower-case letters and digits.
func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
