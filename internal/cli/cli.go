package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/untrusted"
	"github.com/k3sync/k3sync/internal/version"
)

// EnvPrefix prefixes the environment variables that set flags.
const EnvPrefix = "K3SYNC_"

// Exit codes.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitChanges = 2
	// ExitInterrupted: a signal ended the command (128 + SIGINT, as
	// shells report it).
	ExitInterrupted = 130
)

// graceful are the commands that finish what they are doing when ctx ends
// (the daemon's shutdown, an apply's writes in flight); every other
// command is abandoned at once.
var graceful = map[string]bool{"serve": true, "dev": true, "apply": true}

// invalidRepoError is a repo that does not validate: its errors are what
// the command reports, on stderr as text or on stdout as JSON.
type invalidRepoError struct{ errs diag.List }

func (e invalidRepoError) Error() string { return e.errs.Error() }

// exitError carries a specific exit code without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Run runs the command line args and returns the process exit code. When
// ctx ends, commands other than serve, dev and apply return
// ExitInterrupted at once, whatever they were doing; nothing they write
// after that reaches stdout or stderr.
//
// A command run with --output json that fails before writing its output
// writes one JSON document describing the failure instead:
// {"valid": false, "errors": [...]} for validate, {"errors": [...]} for
// the others, each error as validate prints them.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	out, errOut := &gatedWriter{w: stdout}, &gatedWriter{w: stderr}
	root := newRoot(out, errOut)
	root.SetArgs(args)
	type result struct {
		cmd *cobra.Command
		err error
	}
	done := make(chan result, 1)
	go func() {
		cmd, err := root.ExecuteContextC(ctx)
		done <- result{cmd, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		if cmd, _, err := root.Find(args); err == nil && graceful[cmd.Name()] {
			r = <-done
			break
		}
		out.close()
		errOut.close()
		fmt.Fprintln(stderr, "k3sync: interrupted")
		return ExitInterrupted
	}
	var ee exitError
	var invalid invalidRepoError
	switch {
	case r.err == nil:
		return ExitOK
	case ctx.Err() != nil && errors.Is(r.err, context.Canceled):
		// A graceful command that stopped because of the signal (an
		// evaluation's sandbox child is killed at once).
		fmt.Fprintln(stderr, "k3sync: interrupted")
		return ExitInterrupted
	case errors.As(r.err, &ee):
		return ee.code
	case r.cmd != nil && out.written() == 0 && outputFormat(r.cmd) == "json":
		errs := diag.List{{Message: r.err.Error()}}
		if errors.As(r.err, &invalid) {
			errs = invalid.errs
		}
		var doc any = struct {
			Errors diag.List `json:"errors"`
		}{errs}
		if r.cmd.Name() == "validate" {
			doc = validateOutput{Valid: false, Errors: errs}
		}
		if err := writeJSON(stdout, doc); err != nil {
			fmt.Fprintln(stderr, "k3sync:", err)
		}
		return ExitError
	case errors.As(r.err, &invalid):
		fmt.Fprintln(stderr, invalid.errs.Error())
		return ExitError
	default:
		fmt.Fprintln(stderr, "k3sync:", r.err)
		return ExitError
	}
}

// validateOutput is what validate --output json prints.
type validateOutput struct {
	Valid  bool      `json:"valid"`
	Errors diag.List `json:"errors"`
}

// outputFormat is the value of cmd's --output flag, if it has one.
func outputFormat(cmd *cobra.Command) string {
	if f := cmd.Flags().Lookup("output"); f != nil {
		return f.Value.String()
	}
	return ""
}

// gatedWriter counts what is written through it and drops everything once
// closed: an abandoned command may still be running.
type gatedWriter struct {
	mu     sync.Mutex
	w      io.Writer
	n      int64
	closed bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	n, err := g.w.Write(p)
	g.n += int64(n)
	return n, err //nolint:wrapcheck // the writer's error as is
}

func (g *gatedWriter) written() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

func (g *gatedWriter) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "k3sync",
		Short: "GitOps for the k3 stack: Kubernetes, Kafka and Kong, one definition per tenant",
		Long: `k3sync reconciles a platform Git repo of CUE tenant definitions onto
Kubernetes clusters, Kafka clusters and Kong gateways.

Every flag can also be set as an environment variable K3SYNC_<FLAG>
(for example K3SYNC_REPO=examples/platform-repo).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return flagsFromEnv(cmd.Flags()) },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newValidate(), newRender(), newPlan(), newApply(), NewSyncCommand(), newServe(), newDev(), newImport(), newSchema(), newVersion())
	return root
}

// flagsFromEnv sets every flag not given on the command line from its
// K3SYNC_* variable.
func flagsFromEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the k3sync version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "k3sync", version.String())
			return nil
		},
	}
}

// outputFlag is a flag restricted to some formats.
type outputFlag struct {
	value   string
	allowed []string
}

func (o *outputFlag) String() string { return o.value }
func (o *outputFlag) Type() string   { return "format" }
func (o *outputFlag) Set(v string) error {
	for _, a := range o.allowed {
		if v == a {
			o.value = v
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q (want %s)", v, strings.Join(o.allowed, " or "))
}

// writeJSON writes v as an indented JSON document, escaped as every
// --output json is (see writeEscapedJSON).
func writeJSON(w io.Writer, v any) error {
	err := writeEscapedJSON(w, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v) //nolint:wrapcheck // wrapped below
	})
	if err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// writeEscapedJSON writes the JSON document encode produces with the C1
// controls, separators and format characters (bidi overrides, zero-width
// characters) of its strings as \u escapes: they carry tenant input, and
// encoding/json escapes only the ASCII controls, so none may reach the
// terminal raw. The document decodes to the same values. Every JSON
// document the CLI prints goes through here.
func writeEscapedJSON(w io.Writer, encode func(io.Writer) error) error {
	var b strings.Builder
	if err := encode(&b); err != nil {
		return err
	}
	_, err := io.WriteString(w, untrusted.QuotedEscapes(b.String(), false))
	return err //nolint:wrapcheck // the callers wrap it
}
