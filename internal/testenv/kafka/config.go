package kafka

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// node is one Kafka process of a cluster: a combined broker and KRaft
// controller.
type node struct {
	id  int
	dir string // <cluster dir>/node-<id>

	saslPort, internalPort, controllerPort, plaintextPort int // plaintextPort is 0 without Options.Plaintext
}

func (n *node) name() string       { return "kafka-" + itoa(n.id) }
func (n *node) configPath() string { return filepath.Join(n.dir, "server.properties") }
func (n *node) log4jPath() string  { return filepath.Join(n.dir, "log4j2.properties") }
func (n *node) dataDir() string    { return filepath.Join(n.dir, "data") }

// serverLog is the file log4j writes the broker's log to.
func (n *node) serverLog() string { return filepath.Join(n.dir, "server.log") }

func (n *node) saslAddr() string { return "127.0.0.1:" + itoa(n.saslPort) }

func (n *node) plaintextAddr() string {
	if n.plaintextPort == 0 {
		return ""
	}
	return "127.0.0.1:" + itoa(n.plaintextPort)
}

func itoa(i int) string { return strconv.Itoa(i) }

// serverProperties renders the broker configuration of n in a cluster of
// nodes (see the package documentation for the choices).
// extra are Options.ServerProperties: each replaces the harness's entry of
// the same key, or is added after them.
func serverProperties(n *node, nodes []*node, admin string, extra map[string]string) string {
	voters := make([]string, len(nodes))
	for i, o := range nodes {
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", o.id, o.controllerPort)
	}
	listeners := []string{
		"SASL_PLAINTEXT://127.0.0.1:" + itoa(n.saslPort),
		"INTERNAL://127.0.0.1:" + itoa(n.internalPort),
		"CONTROLLER://127.0.0.1:" + itoa(n.controllerPort),
	}
	advertised := listeners[:2:2]
	protocols := "SASL_PLAINTEXT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
	if n.plaintextPort != 0 {
		pl := "PLAINTEXT://127.0.0.1:" + itoa(n.plaintextPort)
		listeners = append(listeners, pl)
		advertised = append(advertised, pl)
		protocols += ",PLAINTEXT:PLAINTEXT"
	}
	// Internal topics are replicated on up to 3 brokers, as in production,
	// but never on more brokers than there are.
	rf := itoa(min(len(nodes), 3))
	props := [][2]string{
		{"process.roles", "broker,controller"},
		{"node.id", itoa(n.id)},
		{"controller.quorum.voters", strings.Join(voters, ",")},
		{"controller.listener.names", "CONTROLLER"},
		{"listeners", strings.Join(listeners, ",")},
		{"advertised.listeners", strings.Join(advertised, ",")},
		{"listener.security.protocol.map", protocols},
		{"inter.broker.listener.name", "INTERNAL"},

		{"sasl.enabled.mechanisms", Mechanism},
		{"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required;"},
		{"authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"},
		// ANONYMOUS is the principal of the PLAINTEXT listeners: the
		// controller and inter-broker traffic, and Options.Plaintext.
		{"super.users", "User:" + admin + ";User:ANONYMOUS"},
		{"allow.everyone.if.no.acl.found", "false"},

		{"log.dirs", n.dataDir()},
		{"num.partitions", "1"},
		{"default.replication.factor", "1"},
		{"auto.create.topics.enable", "false"},
		{"offsets.topic.replication.factor", rf},
		{"offsets.topic.num.partitions", "1"},
		{"transaction.state.log.replication.factor", rf},
		{"transaction.state.log.min.isr", "1"},
		{"transaction.state.log.num.partitions", "1"},
		{"share.coordinator.state.topic.replication.factor", rf},
		{"share.coordinator.state.topic.min.isr", "1"},
		{"share.coordinator.state.topic.num.partitions", "1"},
		{"group.initial.rebalance.delay.ms", "0"},

		// Small and quick: few threads, a small compaction buffer (the
		// default 128 MiB would take a third of the heap), no controlled
		// shutdown (it waits for the controllers, which stop at the same
		// time).
		{"num.network.threads", "2"},
		{"num.io.threads", "2"},
		{"background.threads", "2"},
		{"num.recovery.threads.per.data.dir", "1"},
		{"log.cleaner.dedupe.buffer.size", "8388608"},
		{"controlled.shutdown.enable", "false"},
	}
	for i, kv := range props {
		if v, ok := extra[kv[0]]; ok {
			props[i][1] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		if !slices.ContainsFunc(props, func(kv [2]string) bool { return kv[0] == k }) {
			props = append(props, [2]string{k, extra[k]})
		}
	}
	var b strings.Builder
	b.WriteString("# Written by k3sync's internal/testenv/kafka.\n")
	for _, kv := range props {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], escapeProperty(kv[1]))
	}
	return b.String()
}

// escapeProperty escapes a value for a Java properties file.
func escapeProperty(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(v)
}

// log4jProperties configures log4j2 to write the broker's log to
// server.log and, with console, to stdout too (which the harness copies to
// Options.Logs).
func log4jProperties(n *node, console bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by k3sync's internal/testenv/kafka.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = %s
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%%d] %%p %%m (%%c)%%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
`, escapeProperty(n.serverLog()))
	if console {
		fmt.Fprintf(&b, `appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%s %%d] %%p %%m (%%c)%%n
rootLogger.appenderRef.console.ref = STDOUT
`, n.name())
	}
	// The request logger and the state change logger are chatty at INFO.
	b.WriteString(`logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
`)
	return b.String()
}

// writeNodeFiles creates the node's directory with its configuration.
func writeNodeFiles(n *node, nodes []*node, admin string, console bool, extra map[string]string) error {
	if err := os.MkdirAll(n.dataDir(), 0o700); err != nil {
		return fmt.Errorf("%s directory: %w", n.name(), err)
	}
	if err := os.WriteFile(n.configPath(), []byte(serverProperties(n, nodes, admin, extra)), 0o600); err != nil {
		return fmt.Errorf("%s config: %w", n.name(), err)
	}
	if err := os.WriteFile(n.log4jPath(), []byte(log4jProperties(n, console)), 0o600); err != nil {
		return fmt.Errorf("%s log4j config: %w", n.name(), err)
	}
	return nil
}
