// Package kafka starts real, throw-away Apache Kafka clusters for tests.
//
// k3sync reconciles topics, ACLs, SCRAM users and quotas on Kafka, and
// checks topic names and configs itself at validate time
// (internal/kafkaspec). kfake, franz-go's in-memory broker, accepts
// anything; the tests that must know what a real broker accepts, enforces
// and answers run against a [Cluster] of real Kafka [Version] brokers,
// each a JVM started from the jars `make kafka-bin` copies.
//
// # Jars
//
// hack/kafka/kafka.mk has Maven copy org.apache.kafka:kafka_2.13 with its
// runtime dependencies and log4j2 from Maven Central into
// bin/kafka-<version>/libs/ at the repository root: the libs/ of a Kafka
// distribution, without its shell scripts (the harness runs java itself,
// on kafka.Kafka and kafka.tools.StorageTool). Start looks for the jars in
// [Options.BinDir], then in the directory named by the KAFKA_BIN_DIR
// environment variable (exported by make), then in
// <repo root>/bin/kafka-[Version], where the repository root is found by
// walking up from the working directory to k3sync's go.mod. When they are
// missing Start fails with
//
//	kafka jars not found in <dir>: run 'make kafka-bin'
//
// Tests must let that fail the test (as [StartT] does): a skipped test would
// silently stop covering the code. java is $JAVA_HOME/bin/java, else java on
// $PATH; it must be Java 17 or newer.
//
// # One cluster
//
// Every cluster is fully independent: its own temporary directory
// ([Cluster.LogDir]), its own ports picked at random on 127.0.0.1, its own
// random cluster ID. It runs in KRaft mode, without ZooKeeper: each of its
// [Options.Brokers] nodes (1 by default) is a combined broker and
// controller, and the controllers form a static quorum
// (controller.quorum.voters) of all nodes. Three nodes is three JVMs, not
// four: a separate controller would cost a JVM and gain a test nothing.
// The storage of every node is formatted before it starts, as
// `kafka-storage format --add-scram` does, which puts the SCRAM-SHA-512
// credential of the super user [AdminUser] in the bootstrap metadata.
//
// Each node has these listeners:
//
//   - SASL_PLAINTEXT with SCRAM-SHA-512, for clients: [Cluster.Bootstrap].
//     [Cluster.AdminUser] returns the super user's name and password;
//     [Cluster.Client] returns a franz-go client authenticated as it, and
//     [Cluster.CreateUser] adds other SCRAM users.
//   - CONTROLLER (PLAINTEXT) for the KRaft quorum and INTERNAL
//     (PLAINTEXT) for replication between brokers, both on loopback.
//   - with [Options.Plaintext], PLAINTEXT for clients that do not
//     authenticate: [Cluster.PlaintextBootstrap].
//
// Authorization is enforced as in production: the StandardAuthorizer, with
// allow.everyone.if.no.acl.found=false and super users AdminUser and
// ANONYMOUS. ANONYMOUS is the principal of every PLAINTEXT listener, which
// the controller and inter-broker traffic need; so a client of the
// PLAINTEXT listener is a super user too. Test authorization over
// Bootstrap with a user of CreateUser: it can do nothing until ACLs allow
// it.
//
// The settings are sized for tests: no topic auto-creation, one partition
// by default, internal topics (offsets, transactions, share groups) with
// one partition replicated on up to three brokers, no initial rebalance
// delay, few threads, no controlled shutdown. [Options.ServerProperties]
// changes or adds settings of a test's own. Each JVM runs with a
// 384 MiB heap at most ([Options.HeapMB]), the serial collector and the
// C1 compiler only, which starts faster.
//
// # Logs
//
// The harness writes a log4j2 configuration next to each node's
// server.properties, in <LogDir>/node-<id>/: the broker logs to server.log
// there (the JVM's own stdout and stderr go to kafka-<id>.log, nearly
// empty). Nothing reaches the test's output, unless [Options.Logs] asks for
// a copy. When the start fails, the error quotes the end of server.log.
//
// # Lifecycle
//
// [Start] formats the storage, starts the nodes and returns once a client
// authenticated as AdminUser gets metadata listing every broker: about 4
// to 7 s for one node on 2 idle cores, 15 to 25 s for three (their JVMs
// compete for the cores), and up to 3 times longer on cores busy with
// other tests; [Cluster.StartupTime] tells. Readiness is a bounded poll
// ([Options.StartTimeout]); if a node exits first, Start fails with the
// tail of its log, and keeps the directory. A port taken between being picked and being bound is
// retried with fresh ones. The context passed to Start bounds only the
// start-up: the nodes live until [Cluster.Stop], which stops them cleanly
// (SIGTERM, SIGKILL after 30 s, 2 to 6 s in practice) and removes the
// directory. On Linux the JVMs are also killed when the process that
// started them dies, so a test binary killed by a timeout leaves no stray
// broker behind.
//
// # Tests
//
// [StartT] starts a cluster and stops it in t.Cleanup; when the test
// failed it keeps the directory and logs where it is:
//
//	c := kafka.StartT(t, kafka.Options{})
//	cl, err := c.Client()
//	adm := kadm.NewClient(cl)
package kafka
