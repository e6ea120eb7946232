package benchcompare

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Result is one benchmark's figures, averaged over the times it ran.
type Result struct {
	// Pkg is the import path of the benchmark's package.
	Pkg string
	// Name is the benchmark's name without the GOMAXPROCS suffix, e.g.
	// "BenchmarkKongNoopPlan/deck-diff".
	Name string
	// Metrics maps a unit ("ns/op", "reads/op", …) to its value.
	Metrics map[string]float64
}

// Env is what the benchmark output says about where it ran.
type Env struct {
	CPU string
}

// Line limits: benchmark output is trusted (our own tests), but a reader
// never takes an unbounded line.
const maxLine = 1 << 20

// procsSuffix is the "-N" that go test appends to a benchmark's name when
// GOMAXPROCS is not 1.
var procsSuffix = regexp.MustCompile(`-[0-9]+$`)

// Parse reads `go test -bench` output and returns its results in the
// order they first appear. A benchmark that appears more than once (-count)
// gets the mean of each metric.
func Parse(r io.Reader) ([]Result, Env, error) {
	var (
		env   Env
		pkg   string
		out   []Result
		index = map[string]int{}
		runs  []int
	)
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), maxLine)
	for s.Scan() {
		line := s.Text()
		if v, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(v)
			continue
		}
		if v, ok := strings.CutPrefix(line, "cpu: "); ok {
			env.CPU = strings.TrimSpace(v)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a benchmark's log line, not its result
		}
		metrics := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, env, fmt.Errorf("benchmark %s: value %q: %w", f[0], f[i], err)
			}
			metrics[f[i+1]] = v
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		key := pkg + " " + name
		i, seen := index[key]
		if !seen {
			i = len(out)
			index[key] = i
			out = append(out, Result{Pkg: pkg, Name: name, Metrics: map[string]float64{}})
			runs = append(runs, 0)
		}
		n := float64(runs[i])
		for unit, v := range metrics {
			out[i].Metrics[unit] = (out[i].Metrics[unit]*n + v) / (n + 1)
		}
		runs[i]++
	}
	if err := s.Err(); err != nil {
		return nil, env, fmt.Errorf("read benchmark output: %w", err)
	}
	return out, env, nil
}

// Comparison is one row of the table: a metric of a k3sync benchmark
// against the same metric of a peer tool's benchmark.
type Comparison struct {
	// What is compared, in words.
	What string
	// Pkg is the benchmarks' package, relative to the module
	// ("internal/benchcompare").
	Pkg string
	// K3sync and Peer are benchmark names (Peer empty: no peer tool).
	K3sync, Peer string
	// PeerTool names the peer in the table.
	PeerTool string
	// Unit is the metric compared.
	Unit string
	// Target is the ratio peer/k3sync the issue asks for (0: none).
	Target float64
}

// Comparisons are the rows of `make bench-compare`.
var Comparisons = []Comparison{
	{What: "Kubernetes no-op plan, wall time, k3sync daemon (warm target)", Pkg: "internal/benchcompare",
		K3sync: "BenchmarkKubernetesNoopPlan/k3sync", Peer: "BenchmarkKubernetesNoopPlan/kubectl-diff",
		PeerTool: "kubectl diff --server-side", Unit: "ns/op", Target: 50},
	{What: "Kubernetes no-op plan, wall time, k3sync cold (new target, as a CLI run)", Pkg: "internal/benchcompare",
		K3sync: "BenchmarkKubernetesNoopPlan/k3sync-cold", Peer: "BenchmarkKubernetesNoopPlan/kubectl-diff",
		PeerTool: "kubectl diff --server-side", Unit: "ns/op", Target: 50},
	{What: "Kubernetes no-op plan, CPU (client + apiserver + etcd), k3sync daemon", Pkg: "internal/benchcompare",
		K3sync: "BenchmarkKubernetesNoopPlan/k3sync", Peer: "BenchmarkKubernetesNoopPlan/kubectl-diff",
		PeerTool: "kubectl diff --server-side", Unit: "total-cpu-ms/op"},
	{What: "Kubernetes no-op plan, CPU (client + apiserver + etcd), k3sync cold", Pkg: "internal/benchcompare",
		K3sync: "BenchmarkKubernetesNoopPlan/k3sync-cold", Peer: "BenchmarkKubernetesNoopPlan/kubectl-diff",
		PeerTool: "kubectl diff --server-side", Unit: "total-cpu-ms/op"},
	{What: "Kong no-op plan, wall time, k3sync daemon (memo primed)", Pkg: "internal/benchcompare",
		K3sync: "BenchmarkKongNoopPlan/k3sync", Peer: "BenchmarkKongNoopPlan/deck-diff",
		PeerTool: "deck diff", Unit: "ns/op", Target: 5},
	{What: "Kong no-op plan, wall time, k3sync cold (new target, every tenant diffed)", Pkg: "internal/benchcompare",
		K3sync: "BenchmarkKongNoopPlan/k3sync-cold", Peer: "BenchmarkKongNoopPlan/deck-diff",
		PeerTool: "deck diff", Unit: "ns/op", Target: 5},
	{What: "Kong no-op plan, CPU (client + emulator), k3sync daemon", Pkg: "internal/benchcompare",
		K3sync: "BenchmarkKongNoopPlan/k3sync", Peer: "BenchmarkKongNoopPlan/deck-diff",
		PeerTool: "deck diff", Unit: "cpu-ms/op"},
	{What: "Kong no-op plan, CPU (client + emulator), k3sync cold", Pkg: "internal/benchcompare",
		K3sync: "BenchmarkKongNoopPlan/k3sync-cold", Peer: "BenchmarkKongNoopPlan/deck-diff",
		PeerTool: "deck diff", Unit: "cpu-ms/op"},
	{What: "Kong no-op plan, Admin API requests, k3sync cold", Pkg: "internal/benchcompare",
		K3sync: "BenchmarkKongNoopPlan/k3sync-cold", Peer: "BenchmarkKongNoopPlan/deck-diff",
		PeerTool: "deck diff", Unit: "reads/op"},
	{What: "Kafka no-op plan, 1,000 tenants, real broker: wall time", Pkg: "internal/target/kafka",
		K3sync: "BenchmarkPlanNoop1000Tenants/broker", Unit: "ns/op"},
	{What: "Kafka no-op plan, 1,000 tenants, real broker: requests", Pkg: "internal/target/kafka",
		K3sync: "BenchmarkPlanNoop1000Tenants/broker", Unit: "requests/plan"},
	{What: "Kafka no-op plan, 1,000 tenants, real broker: round trips", Pkg: "internal/target/kafka",
		K3sync: "BenchmarkPlanNoop1000Tenants/broker", Unit: "roundtrips/plan"},
	{What: "Kafka no-op plan, 1,000 tenants, real broker: bytes on the wire", Pkg: "internal/target/kafka",
		K3sync: "BenchmarkPlanNoop1000Tenants/broker", Unit: "bytes/plan"},
	{What: "Kafka no-op plan, 1,000 tenants, kfake: wall time", Pkg: "internal/target/kafka",
		K3sync: "BenchmarkPlanNoop1000Tenants/kfake", Unit: "ns/op"},
	{What: "Kafka no-op plan, 1,000 tenants, kfake: round trips", Pkg: "internal/target/kafka",
		K3sync: "BenchmarkPlanNoop1000Tenants/kfake", Unit: "roundtrips/plan"},
	{What: "Kafka no-op plan, 1,000 tenants, kfake: bytes on the wire", Pkg: "internal/target/kafka",
		K3sync: "BenchmarkPlanNoop1000Tenants/kfake", Unit: "bytes/plan"},
}

// Row is a Comparison with its figures, formatted.
type Row struct {
	What, PeerTool string
	// K3sync and Peer are the figures ("" when that benchmark did not run;
	// Peer "—" when there is no peer tool).
	K3sync, Peer string
	// Ratio is peer/k3sync, "" when either figure is missing.
	Ratio string
	// Target is the ratio asked for, "" when none.
	Target string
	// Met is "yes", "MISSED" or "" (no target, or not measured).
	Met string
	// Missing: a benchmark of the row is not in the results.
	Missing bool
}

// Table computes the rows of comps from results.
func Table(results []Result, comps []Comparison) []Row {
	find := func(pkg, name, unit string) (float64, bool) {
		for _, r := range results {
			if (r.Pkg == pkg || strings.HasSuffix(r.Pkg, "/"+pkg)) && r.Name == name {
				v, ok := r.Metrics[unit]
				return v, ok
			}
		}
		return 0, false
	}
	rows := make([]Row, 0, len(comps))
	for _, c := range comps {
		row := Row{What: c.What, PeerTool: c.PeerTool, Peer: "—"}
		k, kok := find(c.Pkg, c.K3sync, c.Unit)
		if kok {
			row.K3sync = format(k, c.Unit)
		} else {
			row.K3sync, row.Missing = "not run", true
		}
		if c.Peer != "" {
			p, pok := find(c.Pkg, c.Peer, c.Unit)
			if pok {
				row.Peer = format(p, c.Unit)
			} else {
				row.Peer, row.Missing = "not run", true
			}
			if kok && pok && k > 0 {
				ratio := p / k
				row.Ratio = fmt.Sprintf("%.1f×", ratio)
				if c.Target > 0 {
					row.Met = "yes"
					if ratio < c.Target {
						row.Met = "MISSED"
					}
				}
			}
		}
		if c.Target > 0 {
			row.Target = fmt.Sprintf("≥ %g×", c.Target)
		}
		rows = append(rows, row)
	}
	return rows
}

// format prints v in unit for people.
func format(v float64, unit string) string {
	switch unit {
	case "ns/op":
		d := time.Duration(v)
		switch {
		case d >= 10*time.Second:
			return fmt.Sprintf("%.1f s", d.Seconds())
		case d >= time.Second:
			return fmt.Sprintf("%.2f s", d.Seconds())
		case d >= time.Millisecond:
			return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
		default:
			return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
		}
	case "cpu-ms/op", "total-cpu-ms/op":
		if v >= 10000 {
			return fmt.Sprintf("%.1f s CPU", v/1000)
		}
		return fmt.Sprintf("%.0f ms CPU", v)
	case "bytes/plan":
		switch {
		case v >= 1<<20:
			return fmt.Sprintf("%.2f MiB", v/(1<<20))
		case v >= 1<<10:
			return fmt.Sprintf("%.1f KiB", v/(1<<10))
		default:
			return fmt.Sprintf("%.0f B", v)
		}
	case "reads/op", "requests/plan":
		return fmt.Sprintf("%.0f requests", v)
	case "roundtrips/plan":
		if v == 1 {
			return "1 round trip"
		}
		return fmt.Sprintf("%.0f round trips", v)
	default:
		return fmt.Sprintf("%g %s", v, unit)
	}
}

// Write prints rows as a Markdown table.
func Write(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| Compared | k3sync | Peer tool | Peer | Ratio (peer / k3sync) | Target | Met |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---|\n")
	for _, r := range rows {
		tool := r.PeerTool
		if tool == "" {
			tool = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			r.What, r.K3sync, tool, r.Peer, dash(r.Ratio), dash(r.Target), dash(r.Met))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
