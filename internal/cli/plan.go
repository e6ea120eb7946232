package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/k3sync/k3sync/internal/apply"
	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/credentials"
	"github.com/k3sync/k3sync/internal/daemon"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/render"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/target/registry"
	"github.com/k3sync/k3sync/internal/untrusted"
)

// liveFlags are the flags of the commands that talk to the targets.
type liveFlags struct {
	repoDir    string
	configFile string
	tenants    []string
	revision   string
}

func (f *liveFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.repoDir, "repo", ".", "platform repo folder")
	cmd.Flags().StringVar(&f.configFile, "config", "k3sync.yaml", "configuration file: how to reach each cluster, Kafka cluster and gateway")
	cmd.Flags().StringSliceVar(&f.tenants, "tenant", nil, "only these tenants (repeatable or comma-separated)")
	cmd.Flags().StringVar(&f.revision, "revision", "", "Git revision the repo folder is at, for the record")
}

// session is a loaded repo with its targets and state.
type session struct {
	repo   *model.Repo
	req    plan.Request
	engine *apply.Engine
	// missing are targets tenants use that the config does not name.
	missing []plan.TargetError
	close   func()
}

// open loads the repo and config and connects the targets. readOnly opens
// no state file that does not exist yet.
func (f *liveFlags) open(cmd *cobra.Command, readOnly bool) (*session, error) {
	cfg, err := config.Load(f.configFile)
	if err != nil {
		return nil, err //nolint:wrapcheck // config errors name the file
	}
	opts, err := daemon.LoaderOptions(cfg)
	if err != nil {
		return nil, err //nolint:wrapcheck // names the sandbox
	}
	repo, errs, err := loadRepo(cmd, f.repoDir, opts)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, invalidRepoError{errs}
	}
	for _, t := range f.tenants {
		if repo.Tenant(t) == nil {
			return nil, fmt.Errorf("tenant %q: not in the repo", t)
		}
	}
	if !readOnly {
		if err := daemon.CheckNoLeader(cmd.Context(), cfg, time.Now()); err != nil {
			return nil, besideDaemon(cmd.Name(), err)
		}
	}
	store, closeState, err := openState(cfg, readOnly)
	if err != nil {
		return nil, besideDaemon(cmd.Name(), err)
	}
	s := &session{repo: repo, close: closeState}
	s.req = plan.Request{Revision: f.revision, Platform: &repo.Platform, Complete: len(f.tenants) == 0}
	for _, t := range repo.Tenants {
		if len(f.tenants) > 0 && !slices.Contains(f.tenants, t.Name) {
			continue
		}
		s.req.Tenants = append(s.req.Tenants, plan.TenantRequest{Desired: render.TenantResources(&repo.Platform, t), Model: t})
	}
	set, err := registry.Build(cfg, store, func() credentials.Tenants { return repo })
	if err != nil {
		s.close()
		return nil, err //nolint:wrapcheck // names the target
	}
	s.close = func() { set.Close(); closeState() }
	s.engine = apply.New(set.Targets...)
	s.missing = set.Missing(s.req.Tenants)
	return s, nil
}

// openState opens the configured state backend, as the daemon does; for
// read-only use a missing bbolt file is an empty store (plan creates no
// file).
func openState(cfg *config.Config, readOnly bool) (state.Store, func(), error) {
	if readOnly && cfg.State.Backend != "kubernetes" {
		if _, err := os.Stat(cfg.State.Path); errors.Is(err, fs.ErrNotExist) {
			return state.NewMemory(), func() {}, nil
		}
	}
	s, err := daemon.OpenState(cfg, 0)
	if err != nil {
		return nil, nil, err //nolint:wrapcheck // names the store
	}
	return s, func() { _ = s.Close() }, nil
}

// besideDaemon says plainly why command cannot run while a daemon holds
// the state (the bbolt file or the Lease), and what to run instead; other
// errors pass through.
func besideDaemon(command string, err error) error {
	var why string
	switch {
	case errors.Is(err, state.ErrLocked):
		why = "A running k3sync daemon (k3sync serve), or another k3sync apply, holds this bbolt state file; " +
			"bbolt locks the whole file, so no other process can open it, not even to read."
	case errors.Is(err, daemon.ErrDaemonRunning):
		why = "The daemon applies these tenants; a second writer beside it would overwrite the inventory it saves."
	default:
		return err
	}
	instead := "Apply through the daemon instead: k3sync sync --server URL [--tenant T]; or stop the daemon first."
	if command == "plan" {
		instead = "Show the daemon's current plan instead: k3sync plan --server URL [--tenant T] (a viewer token is enough; " +
			"its dashboard shows it too), and k3sync sync --server URL [--tenant T] applies through it; or stop the daemon first."
	}
	return fmt.Errorf("%w.\n%s\n%s", err, why, instead)
}

func newPlan() *cobra.Command {
	var f liveFlags
	var sf syncFlags
	output := &outputFlag{value: "text", allowed: []string{"text", "markdown", "json"}}
	var allowMass bool
	// onCommandLine are the flags given as arguments, before K3SYNC_*
	// variables fill the others: the command line chooses between a local
	// plan and the daemon's.
	var onCommandLine map[string]bool
	cmd := &cobra.Command{
		Use:   "plan (--config FILE --repo DIR | --server URL) [--tenant T]",
		Short: "Show what apply would change, three-way: Git, last applied, live",
		Long: `Read every target once and show, per tenant and system, what apply would
create, update (field by field, with drift marked), delete, orphan or refuse.

With --server, plan nothing here: show the running daemon's (k3sync serve)
current plan, through its API, with its config, repo and state. That is the
latest plan the daemon made of each tenant for its current revision (at its
last sync or drift check), not a fresh read of the targets; the text output
says which revision it was planned at. A viewer token is enough; it is read
from --token-file or from the K3SYNC_TOKEN environment variable, never from
a flag value. --server excludes --config and --repo: while a daemon holds
the state, a local plan cannot open it.

Exit codes, as terraform plan -detailed-exitcode: 0 no changes, 2 changes,
1 error (invalid repo, unreachable target or server, refused token).`,
		Args: cobra.NoArgs,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			onCommandLine = map[string]bool{}
			cmd.Flags().Visit(func(fl *pflag.Flag) { onCommandLine[fl.Name] = true })
			return flagsFromEnv(cmd.Flags())
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			remote, err := planMode(cmd, onCommandLine)
			if err != nil {
				return err
			}
			if remote {
				return planOnServer(cmd, &sf, f.tenants, output.value)
			}
			s, err := f.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			s.req.AllowMassDeletion = allowMass
			p := s.engine.Plan(cmd.Context(), s.req)
			p.Errors = append(s.missing, p.Errors...)
			return finishPlan(cmd.OutOrStdout(), p, output.value)
		},
	}
	f.register(cmd)
	cmd.Flags().Var(output, "output", "output format: text, markdown or json")
	cmd.Flags().BoolVar(&allowMass, "allow-mass-deletion", false, "plan deletes above the platform's per-plan limit")
	cmd.Flags().StringVar(&sf.server, "server", "", "show the current plan of the k3sync daemon at this URL instead of planning here, e.g. https://k3sync.example.com")
	cmd.Flags().StringVar(&sf.tokenFile, "token-file", "", "with --server: file holding the API token (default: $"+TokenEnv+")")
	return cmd
}

// localOnly are the flags of a local plan; serverOnly those of the
// daemon's.
var (
	localOnly  = []string{"config", "repo", "revision", "allow-mass-deletion"}
	serverOnly = []string{"token-file"}
)

// planMode reports whether plan shows the daemon's plan (--server) rather
// than planning here. Flags on the command line decide; K3SYNC_SERVER
// alone chooses the daemon, K3SYNC_CONFIG or K3SYNC_REPO alone a local
// plan. Flags of one mode given with the other are errors.
func planMode(cmd *cobra.Command, onCommandLine map[string]bool) (bool, error) {
	given := func(names []string) string {
		for _, n := range names {
			if onCommandLine[n] {
				return "--" + n
			}
		}
		return ""
	}
	fromEnv := func(names ...string) string {
		for _, n := range names {
			if !onCommandLine[n] && cmd.Flags().Changed(n) && cmd.Flags().Lookup(n).Value.String() != "" {
				return EnvPrefix + strings.ToUpper(strings.ReplaceAll(n, "-", "_"))
			}
		}
		return ""
	}
	remote := onCommandLine["server"]
	switch local := given(localOnly); {
	case remote && local != "":
		return false, fmt.Errorf("--server and %s exclude each other: --server shows the daemon's plan, made with its own config, repo and state; "+
			"--config and --repo plan here (and cannot while a daemon holds the state)", local)
	case local != "":
		remote = false
	case !remote && fromEnv("server") != "":
		if v := fromEnv("config", "repo"); v != "" {
			return false, fmt.Errorf("%sSERVER and %s are both set: pass --server URL to show the daemon's plan, or --config and --repo to plan here", EnvPrefix, v)
		}
		remote = true
	}
	if !remote {
		if flag := given(serverOnly); flag != "" {
			return false, fmt.Errorf("%s goes with --server URL (the daemon's plan)", flag)
		}
	}
	return remote, nil
}

// planOnServer prints the daemon's current plan of tenants (all when
// none) as a local plan prints its own, with the same exit codes.
func planOnServer(cmd *cobra.Command, f *syncFlags, tenants []string, format string) error {
	c, err := f.client()
	if err != nil {
		return err
	}
	p, err := c.Plan(cmd.Context(), tenants...)
	if err != nil {
		return explainPlan(err)
	}
	w := cmd.OutOrStdout()
	if format == "text" {
		at := "an unknown revision"
		if p.Revision != "" {
			at = "revision " + untrusted.Visible(shortHash(p.Revision))
		}
		if _, err := fmt.Fprintf(w, "Planned by the daemon at %s.\n\n", at); err != nil {
			return fmt.Errorf("write plan: %w", err)
		}
	}
	return finishPlan(w, p, format)
}

// explainPlan adds what to do about the errors a user can fix.
func explainPlan(err error) error {
	var ae *server.APIError
	if errors.As(err, &ae) {
		switch ae.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("%w (check the token in --token-file or %s)", err, TokenEnv)
		case http.StatusNotFound:
			if !strings.Contains(ae.Message, "no such endpoint") {
				break
			}
			return fmt.Errorf("%w (the server predates GET /api/v1/plan; use its dashboard, or GET /api/v1/tenants/{tenant}/plan)", err)
		}
	}
	return err
}

// finishPlan writes p and returns the exit code it calls for.
func finishPlan(w io.Writer, p *plan.Plan, format string) error {
	if err := writePlan(w, p, format); err != nil {
		return err
	}
	switch {
	case len(p.Errors) > 0:
		return exitError{ExitError}
	case p.HasChanges() || p.Blocked():
		return exitError{ExitChanges}
	}
	return nil
}

func writePlan(w io.Writer, p *plan.Plan, format string) error {
	var err error
	switch format {
	case "json":
		err = writeEscapedJSON(w, p.WriteJSON)
	case "markdown":
		err = p.WriteMarkdown(w)
	default:
		err = p.WriteText(w, plan.TextOptions{Colour: isTerminal(w)})
	}
	if err != nil {
		return fmt.Errorf("write plan: %w", err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
}

func newApply() *cobra.Command {
	var f liveFlags
	var dryRun, allowMass bool
	output := &outputFlag{value: "text", allowed: []string{"text", "json"}}
	cmd := &cobra.Command{
		Use:   "apply --config FILE --repo DIR [--tenant T]",
		Short: "Make the targets match Git",
		Long: `Plan afresh and apply: each tenant on Kubernetes first, then Kafka, then
Kong (tenants are pipelined: one can be on Kong while another is still on
Kubernetes); within a target creates top-down and deletes bottom-up. Every change reports its own
result; a failing target fails only its own changes. Exit code 1 if anything
failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, dryRun)
			if err != nil {
				return err
			}
			defer s.close()
			s.req.AllowMassDeletion = allowMass
			r := s.engine.Apply(cmd.Context(), s.req, plan.ApplyOptions{DryRun: dryRun})
			r.Errors = append(s.missing, r.Errors...)
			if err := writeReport(cmd.OutOrStdout(), r, output.value, dryRun); err != nil {
				return err
			}
			if r.Failed() {
				return exitError{ExitError}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "send every change as a dry run (server-side dry run, Kafka validate-only); write no state")
	cmd.Flags().BoolVar(&allowMass, "allow-mass-deletion", false, "apply deletes above the platform's per-plan limit")
	cmd.Flags().Var(output, "output", "output format: text or json")
	return cmd
}

func writeReport(w io.Writer, r *apply.Report, format string, dryRun bool) error {
	if format == "json" {
		for i := range r.Results {
			if r.Results[i].Err != nil {
				r.Results[i].Error = r.Results[i].Err.Error()
			}
		}
		return writeJSON(w, r)
	}
	var b strings.Builder
	ok, failed := 0, 0
	for _, res := range r.Results {
		if res.Err != nil {
			failed++
			fmt.Fprintf(&b, "✗ %s\n", untrusted.Visible(fmt.Sprintf("%s %s %s: %v", res.Tenant, res.Action, res.Key, res.Err)))
			continue
		}
		ok++
		fmt.Fprintf(&b, "✓ %s\n", untrusted.Visible(fmt.Sprintf("%s %s %s", res.Tenant, res.Action, res.Key)))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "error: %s\n", untrusted.Visible(e.String()))
	}
	verb := "Applied"
	if dryRun {
		verb = "Dry run"
	}
	fmt.Fprintf(&b, "%s: %d changes made, %d failed.\n", verb, ok, failed)
	_, err := io.WriteString(w, b.String())
	return err //nolint:wrapcheck // the writer's error says it all
}
