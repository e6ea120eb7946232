package kafka

import (
	"context"
	"io"
	"os/exec"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/proc"
)

const (
	// pollInterval is how often readiness is probed while the nodes start.
	pollInterval = 100 * time.Millisecond

	// stopGrace is how long Stop waits for a node to shut down cleanly
	// after SIGTERM before it kills it. A node stops in 2 to 3 s.
	stopGrace = 30 * time.Second
)

// processEnv is the environment of the JVMs: ours, minus the variables
// Kafka's scripts or the JVM would read as configuration (KAFKA_HEAP_OPTS,
// KAFKA_OPTS, JAVA_TOOL_OPTIONS, CLASSPATH, ...). Everything is on the
// command line instead.
func processEnv() []string {
	return proc.Environ("KAFKA_", "JAVA_TOOL_OPTIONS=", "_JAVA_OPTIONS=", "JDK_JAVA_OPTIONS=", "CLASSPATH=", "LOG4J")
}

// jvmArgs are the java arguments that run mainClass with the node's
// settings: small heap, serial GC, C1 only (start-up matters more than peak
// throughput in tests), log4j2 configured from the node's directory.
func jvmArgs(inst installation, n *node, heapMB int, mainClass string, args ...string) []string {
	initial := min(128, heapMB)
	a := []string{
		"-Xms" + itoa(initial) + "m",
		"-Xmx" + itoa(heapMB) + "m",
		"-XX:+UseSerialGC",
		"-XX:TieredStopAtLevel=1",
		"-XX:-UsePerfData",
		"-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true",
		"-Djava.io.tmpdir=" + n.dir,
		"-Dkafka.logs.dir=" + n.dir,
		"-Dlog4j2.configurationFile=" + n.log4jPath(),
		"-cp", inst.classPath,
		mainClass,
	}
	return append(a, args...)
}

// startNode starts the broker of n, its stdout and stderr in
// <node dir>/kafka-<id>.log (and output, if set).
func startNode(ctx context.Context, inst installation, n *node, heapMB int, output io.Writer) (*proc.Process, error) {
	return proc.Start(ctx, proc.Spec{ //nolint:wrapcheck // proc's errors name the process
		Name:   n.name(),
		Bin:    inst.java,
		Dir:    n.dir,
		Args:   jvmArgs(inst, n, heapMB, "kafka.Kafka", n.configPath()),
		Env:    processEnv(),
		Output: output,
	})
}

// command is a one-shot java command (the storage tool) with the node's
// settings.
func command(ctx context.Context, inst installation, n *node, mainClass string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, inst.java, jvmArgs(inst, n, 256, mainClass, args...)...)
	cmd.Dir = n.dir
	cmd.Env = processEnv()
	cmd.WaitDelay = 2 * time.Second
	return cmd
}
