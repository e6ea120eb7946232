// Command benchcompare prints the table of `make bench-compare` from the
// output of `go test -bench` (files named as arguments, else standard
// input): k3sync's figures against kubectl's and decK's, measured in the
// same run (see internal/benchcompare and docs/performance.md).
//
// It exits 1 when a benchmark of the table is missing from the output, and
// 0 otherwise, also when a target is missed: the table says so.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/k3sync/k3sync/internal/benchcompare"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	in := stdin
	if len(args) > 0 {
		readers := make([]io.Reader, 0, len(args))
		for _, name := range args {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			readers = append(readers, f)
		}
		in = io.MultiReader(readers...)
	}
	results, env, err := benchcompare.Parse(in)
	if err != nil {
		return err
	}
	rows := benchcompare.Table(results, benchcompare.Comparisons)
	fmt.Fprintf(stdout, "k3sync vs kubectl diff and decK, measured %s on %s (%s)\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cpuName(env.CPU), loadAverage())
	if err := benchcompare.Write(stdout, rows); err != nil {
		return err
	}
	var missing []string
	for _, r := range rows {
		if r.Missing {
			missing = append(missing, r.What)
		}
	}
	if len(missing) > 0 {
		return errors.New("no figures for: " + strings.Join(missing, "; "))
	}
	return nil
}

func cpuName(s string) string {
	if s == "" {
		return "an unknown CPU"
	}
	return s
}

// loadAverage is the load average when the table is printed, from
// /proc/loadavg where there is one.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "load average unknown"
	}
	return "load average " + strings.Join(f[:3], ", ")
}
