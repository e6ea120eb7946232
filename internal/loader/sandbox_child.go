package loader

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// watchInterval is how often the child's watchdog reads its heap.
const watchInterval = 5 * time.Millisecond

// watchMemory exits the child, after telling the parent on progress, as soon
// as its heap exceeds limit bytes. The soft limit makes the collector work
// harder before that. It returns a function that stops the watchdog.
func watchMemory(limit int64, progress *os.File) func() {
	if limit <= 0 {
		return func() {}
	}
	debug.SetMemoryLimit(limit)
	stop := make(chan struct{})
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 && int64(sample[0].Value.Uint64()) > limit { //nolint:gosec // heap sizes fit an int64
				_, _ = fmt.Fprintln(progress, "M")
				os.Exit(childOverMemory)
			}
		}
	}()
	return func() { close(stop) }
}

// defaultEvalTimeout stands in for an evalTimeout that is not a
// positive duration (the platform file is then invalid anyway).
const defaultEvalTimeout = 10 * time.Second

// RunTests is TestMain for packages whose tests evaluate with a Sandbox:
// the test binary serves as the evaluation child when started as one,
// and runs its tests otherwise.
func RunTests(m interface{ Run() int }) {
	ChildMain()
	os.Exit(m.Run())
}
