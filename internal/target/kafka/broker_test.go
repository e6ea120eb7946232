package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/state"
	tkafka "github.com/k3sync/k3sync/internal/testenv/kafka"
)

// The real broker: one Apache Kafka node (internal/testenv/kafka), started
// the first time a test asks for it and shared by every test of the
// package, stopped by TestMain. Its start costs 4 to 25 s, so no test
// starts its own.
var shared struct {
	once    sync.Once
	cluster *tkafka.Cluster
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		if err := shared.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop kafka: %v\n", err)
		}
	}
	os.Exit(code)
}

// sharedBroker returns the package's broker, starting it on first use.
// With K3SYNC_KAFKA_LOG=<file>, the broker's log is copied to that file,
// which outlives the broker's directory (Stop removes it).
func sharedBroker(t testing.TB) *tkafka.Cluster {
	t.Helper()
	shared.once.Do(func() {
		opts := tkafka.Options{
			// For kcat (TestKcatSeesTopics), whose librdkafka cannot
			// log in with SCRAM to Kafka 4 (see there).
			Plaintext: true,
			ServerProperties: map[string]string{
				// The example has SCRAM-SHA-256 users: they log in
				// (TestSCRAMUsers).
				"sasl.enabled.mechanisms":                                     tkafka.Mechanism + ",SCRAM-SHA-256",
				"listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
				// A topic config's default from the broker's file:
				// every topic has index.interval.bytes from
				// STATIC_BROKER_CONFIG (TestBrokerConfigSources;
				// Kafka's own default is 4096).
				"log.index.interval.bytes": "8192",
			},
		}
		if path := os.Getenv("K3SYNC_KAFKA_LOG"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				shared.err = err
				return
			}
			opts.Logs = f
		}
		shared.cluster, shared.err = tkafka.Start(context.Background(), opts)
		if shared.err == nil {
			fmt.Fprintf(os.Stderr, "kafka %s at %v ready in %s\n", tkafka.Version, shared.cluster.Bootstrap(), shared.cluster.StartupTime().Round(time.Millisecond))
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cluster
}

// peer is a Kafka cluster the behaviour tests run on.
type peer struct {
	name string
	// env returns an env on an empty cluster.
	env func(t *testing.T) *env
}

// isBroker: the peer is the real broker.
func (p peer) isBroker() bool { return p.name == "broker" }

// peers are kfake (fast, but it validates and enforces nothing) and the
// real broker, which says what Kafka actually does.
var peers = []peer{
	{"kfake", func(t *testing.T) *env { return newEnv(t) }},
	{"broker", brokerEnv},
}

// brokerEnv is an env on the shared broker, emptied first: the example
// repo's names are fixed, so the tests that apply it take turns on it.
// k3sync logs in as the super user with SCRAM-SHA-512, its password read
// from a file as in production.
func brokerEnv(t *testing.T) *env {
	t.Helper()
	c := sharedBroker(t)
	resetBroker(t, c)
	return brokerEnvOn(t, c)
}

// ownBrokerEnv is an env on a broker of the test's own, stopped when it
// ends: for a test whose load (thousands of partitions to create, then
// to delete) would still occupy the shared broker in the tests after it.
// A broker applies created and deleted partitions to its log directory
// after it answered the write, so that work outlives the test.
func ownBrokerEnv(t *testing.T) *env {
	t.Helper()
	return brokerEnvOn(t, tkafka.StartT(t, tkafka.Options{}))
}

// brokerEnvOn is an env on c, as it is.
func brokerEnvOn(t *testing.T, c *tkafka.Cluster) *env {
	t.Helper()
	e := &env{broker: c, store: state.NewMemory(), sink: newSink(), wire: &wire{}}
	user, pass := c.AdminUser()
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Kafka{Brokers: c.Bootstrap(), SASL: &config.SASL{
		Mechanism: c.Mechanism(), Username: user, Secret: config.Secret{PasswordFile: file},
	}}
	target, err := New("main", cfg, e.store, e.sink, WithClientOptions(kgo.WithHooks(e.wire)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	e.target = target
	adm, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	e.admin, e.client = kadm.NewClient(adm), adm
	return e
}

// fitBroker makes the example fit the one-node broker: a replication
// factor above 1 cannot be met there (INVALID_REPLICATION_FACTOR). kfake
// keeps the example as it is: it has three brokers and the golden plan.
func fitBroker(p peer, d *desired) {
	if !p.isBroker() {
		return
	}
	for _, tn := range d.Tenants {
		if tn.Kafka == nil {
			continue
		}
		for i := range tn.Kafka.Topics {
			tn.Kafka.Topics[i].ReplicationFactor = 1
		}
	}
}

// resetBroker deletes every topic, ACL, quota and SCRAM user but the super
// user's, and waits until the broker no longer reports any of them.
func resetBroker(t testing.TB, c *tkafka.Cluster) {
	t.Helper()
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := t.Context()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left, err := clearBroker(ctx, cl, adm)
		if err == nil && len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reset the broker: %v; left: %v", err, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clearBroker deletes what it finds and returns what it found.
func clearBroker(ctx context.Context, cl *kgo.Client, adm *kadm.Client) ([]string, error) {
	var left []string
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	var topics []string
	for _, mt := range meta.Topics {
		if mt.Topic != nil && !strings.HasPrefix(*mt.Topic, "__") {
			topics = append(topics, *mt.Topic)
		}
	}
	if len(topics) > 0 {
		left = append(left, topics...)
		if _, err := adm.DeleteTopics(ctx, topics...); err != nil {
			return left, err
		}
	}
	acls, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny).Allow().Deny().AllowHosts().DenyHosts())
	if err != nil {
		return left, err
	}
	nACLs := 0
	for _, r := range acls {
		if r.Err != nil {
			return left, r.Err
		}
		for _, d := range r.Described {
			left = append(left, "acl "+d.Principal+" "+d.Name)
			nACLs++
		}
	}
	if nACLs > 0 {
		del := kmsg.NewPtrDeleteACLsRequest()
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType = kmsg.ACLResourceTypeAny
		f.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
		f.Operation = kmsg.ACLOperationAny
		f.PermissionType = kmsg.ACLPermissionTypeAny
		del.Filters = append(del.Filters, f)
		if _, err := del.RequestWith(ctx, cl); err != nil {
			return left, err
		}
	}
	quotas, err := adm.DescribeClientQuotas(ctx, false, nil)
	if err != nil {
		return left, err
	}
	var alters []kadm.AlterClientQuotaEntry
	for _, q := range quotas {
		var ops []kadm.AlterClientQuotaOp
		for _, v := range q.Values {
			ops = append(ops, kadm.AlterClientQuotaOp{Key: v.Key, Remove: true})
		}
		entity := make(kadm.ClientQuotaEntity, len(q.Entity))
		copy(entity, q.Entity)
		alters = append(alters, kadm.AlterClientQuotaEntry{Entity: entity, Ops: ops})
		left = append(left, fmt.Sprintf("quota %v", q.Entity))
	}
	if len(alters) > 0 {
		if _, err := adm.AlterClientQuotas(ctx, alters); err != nil {
			return left, err
		}
	}
	users, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		return left, err
	}
	var dels []kadm.DeleteSCRAM
	for name, u := range users {
		if name == tkafka.AdminUser || u.Err != nil {
			continue
		}
		for _, ci := range u.CredInfos {
			dels = append(dels, kadm.DeleteSCRAM{User: name, Mechanism: ci.Mechanism})
		}
		left = append(left, "user "+name)
	}
	if len(dels) > 0 {
		if _, err := adm.AlterUserSCRAMs(ctx, dels, nil); err != nil {
			return left, err
		}
	}
	slices.Sort(left)
	return left, nil
}

// brokerLogin reports whether user can log in to the broker with password
// over SCRAM (mechanism SCRAM-SHA-256 or -512). A credential k3sync just
// set reaches the broker's metadata cache a little after the answer to
// the write, so a failed login is retried for a few seconds.
func brokerLogin(t *testing.T, c *tkafka.Cluster, user, password, mechanism string, wantOK bool) error {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := scramLogin(t, c.Bootstrap(), user, password, mechanism)
		if (err == nil) == wantOK || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cutter is a dialer whose connections can be armed to lose the answer to
// the next CreateTopics: the request reaches the broker, which acts on
// it and answers; the answer is read off the socket and dropped with the
// connection. The client sees the connection die, so it cannot tell what
// happened: the outcome of the write is unknown, as after a crash or a
// network cut, and franz-go retries it on a new connection.
type cutter struct {
	armed atomic.Bool
	cuts  atomic.Int32
	d     net.Dialer
}

func (c *cutter) dial(ctx context.Context, network, host string) (net.Conn, error) {
	conn, err := c.d.DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	return &cutConn{Conn: conn, c: c}, nil
}

type cutConn struct {
	net.Conn
	c   *cutter
	cut atomic.Bool
}

func (cc *cutConn) Write(b []byte) (int, error) {
	// A request is written whole: size (int32), api key (int16), ...
	if len(b) >= 6 && int16(binary.BigEndian.Uint16(b[4:6])) == int16(kmsg.CreateTopics) && cc.c.armed.CompareAndSwap(true, false) {
		cc.cut.Store(true)
	}
	return cc.Conn.Write(b)
}

func (cc *cutConn) Read(b []byte) (int, error) {
	if !cc.cut.Load() {
		return cc.Conn.Read(b)
	}
	// Wait for the broker's answer, so that the write is surely made,
	// then lose it.
	var size [4]byte
	if _, err := io.ReadFull(cc.Conn, size[:]); err == nil {
		_, _ = io.CopyN(io.Discard, cc.Conn, int64(binary.BigEndian.Uint32(size[:])))
	}
	cc.c.cuts.Add(1)
	_ = cc.Close()
	return 0, io.EOF
}

var errNoCut = errors.New("no CreateTopics answer was cut")

// onPeers runs f on every peer, each in a subtest named after it.
func onPeers(t *testing.T, f func(t *testing.T, p peer)) {
	t.Helper()
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) { f(t, p) })
	}
}

// eventually waits up to 10 s for cond. A change made out of band, with
// another client, reaches the metadata a broker answers reads from a
// little after the answer to the write; kfake has it at once.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !within(10*time.Second, cond) {
		t.Fatalf("after 10 s: %s", what)
	}
}

// within reports whether cond holds within d, trying every 50 ms.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// login reports whether user logs in to e's cluster with password over
// SCRAM (mechanism SCRAM-SHA-256 or -512). On the broker a login that
// does not give wantOK is tried again for a few seconds: a credential
// set reaches the metadata the broker authenticates with a little after
// the answer to the write.
func (e *env) login(t *testing.T, user, password, mechanism string, wantOK bool) error {
	t.Helper()
	if e.broker != nil {
		return brokerLogin(t, e.broker, user, password, mechanism, wantOK)
	}
	return login(t, e.cluster, user, password, mechanism)
}

// sasl is an env on p whose cluster authenticates clients with SASL: the
// broker always does; kfake gets a cluster with SASL enabled.
func saslOn(t *testing.T, p peer) *env {
	t.Helper()
	if p.isBroker() {
		return p.env(t)
	}
	return saslEnv(t)
}
