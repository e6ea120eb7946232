package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/state"
	"github.com/k3sync/k3sync/internal/untrusted"
	"github.com/k3sync/k3sync/internal/view"
)

// TokenEnv holds the API token for commands that call a k3sync server.
const TokenEnv = EnvPrefix + "TOKEN"

type syncFlags struct {
	server            string
	tenant            string
	tokenFile         string
	allowMassDeletion bool
	noWait            bool
	output            outputFlag
	interval          time.Duration
	timeout           time.Duration
}

// NewSyncCommand is `k3sync sync`: trigger a sync on a running k3sync
// server and wait for its result.
func NewSyncCommand() *cobra.Command {
	f := &syncFlags{output: outputFlag{value: "text", allowed: []string{"text", "json"}}}
	cmd := &cobra.Command{
		Use:   "sync --server URL [--tenant T]",
		Short: "Trigger a sync on a k3sync server and wait for the result",
		Long: `Trigger a sync of every tenant, or of one, on a running k3sync server
(k3sync serve), show its progress on stderr and print each tenant's result.

The API token is read from --token-file or from the K3SYNC_TOKEN environment
variable; it is never accepted as a flag value, which would leave it in shell
histories and process lists. The token needs the operator role.

Exit status: 0 when every tenant synced, 1 when a run failed, was blocked or
invalid, or the sync could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "k3sync server URL, e.g. https://k3sync.example.com (required)")
	fl.StringVar(&f.tenant, "tenant", "", "sync only this tenant (default: every tenant)")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the API token (default: $"+TokenEnv+")")
	fl.BoolVar(&f.allowMassDeletion, "allow-mass-deletion", false, "lift the platform's delete cap for this sync")
	fl.BoolVar(&f.noWait, "no-wait", false, "print the queued sync and return without waiting")
	fl.Var(&f.output, "output", "output format: text or json")
	fl.DurationVar(&f.interval, "poll-interval", 2*time.Second, "how often to ask the server for progress")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Minute, "give up waiting after this long (the sync goes on)")
	return cmd
}

// run triggers the sync, waits for it unless --no-wait and prints it.
func (f *syncFlags) run(cmd *cobra.Command) error {
	c, err := f.client()
	if err != nil {
		return err
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()

	s, err := c.Trigger(cmd.Context(), view.TriggerRequest{Tenant: f.tenant, AllowMassDeletion: f.allowMassDeletion})
	if err != nil {
		return explain(err)
	}
	if f.noWait {
		if f.output.value == "json" {
			return writeJSON(stdout, s)
		}
		_, err := fmt.Fprintf(stdout, "Sync %s %s; follow it at %s/api/v1/syncs/%s\n", untrusted.Visible(s.ID), untrusted.Visible(string(s.Phase)), strings.TrimRight(f.server, "/"), url.PathEscape(s.ID))
		return err //nolint:wrapcheck // the terminal's own error

	}

	_, _ = fmt.Fprintf(stderr, "sync %s: %s\n", untrusted.Visible(s.ID), untrusted.Visible(string(s.Phase)))
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	phase := s.Phase
	s, err = c.Wait(ctx, s.ID, f.interval, func(s view.Sync) {
		if s.Phase != phase {
			phase = s.Phase
			_, _ = fmt.Fprintf(stderr, "sync %s: %s\n", untrusted.Visible(s.ID), untrusted.Visible(string(s.Phase)))
		}
	})
	if errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil {
		return fmt.Errorf("sync %s: still %s after %s; it goes on on the server", s.ID, phase, f.timeout)
	}
	if err != nil {
		return explain(err)
	}

	if f.output.value == "json" {
		if err := writeJSON(stdout, s); err != nil {
			return err
		}
	} else if err := writeSyncText(stdout, s); err != nil {
		return err
	}
	if !synced(s) {
		return exitError{ExitError}
	}
	return nil
}

// client checks --server and reads the token.
func (f *syncFlags) client() (*server.Client, error) {
	if f.server == "" {
		return nil, errors.New("--server is required (or " + EnvPrefix + "SERVER)")
	}
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http or https URL", f.server)
	}
	tok, err := f.token()
	if err != nil {
		return nil, err
	}
	return &server.Client{URL: f.server, Token: tok, HTTP: &http.Client{Timeout: 30 * time.Second}}, nil
}

// token reads the API token from --token-file, else from K3SYNC_TOKEN.
func (f *syncFlags) token() (string, error) {
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("--token-file %s: the file is empty", f.tokenFile)
		}
		return tok, nil
	}
	if tok := strings.TrimSpace(os.Getenv(TokenEnv)); tok != "" {
		return tok, nil
	}
	return "", errors.New("no API token: pass --token-file FILE or set " + TokenEnv + " (tokens are not accepted as a flag value)")
}

// explain adds what to do about the errors a user can fix.
func explain(err error) error {
	var ae *server.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("%w (check the token in --token-file or %s)", err, TokenEnv)
	case http.StatusForbidden:
		return fmt.Errorf("%w (triggering a sync needs a token with the operator role)", err)
	}
	return err
}

// synced reports whether the sync ran and every run synced.
func synced(s view.Sync) bool {
	if s.Error != "" {
		return false
	}
	for _, r := range s.Runs {
		if r.Result != state.ResultSynced {
			return false
		}
	}
	return true
}

// writeSyncText prints a table of the runs, then why the others failed.
// Every string from the daemon is printed untrusted.Visible: a tenant's
// message or a target's error cannot drive the terminal.
func writeSyncText(w io.Writer, s view.Sync) error {
	var b strings.Builder
	if s.Error != "" {
		fmt.Fprintf(&b, "Sync %s could not run: %s\n", untrusted.Visible(s.ID), untrusted.Visible(s.Error))
	}
	if len(s.Runs) == 0 && s.Error == "" {
		b.WriteString("Nothing to sync: no tenant needed a run.\n")
	}
	if len(s.Runs) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		_, _ = fmt.Fprintln(tw, "TENANT\tRESULT\tREVISION\tSUMMARY")
		for _, r := range s.Runs {
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", untrusted.Visible(r.Tenant), untrusted.Visible(string(r.Result)), untrusted.Visible(shortHash(r.Revision)), r.Summary)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	var problems []string
	failed := 0
	for _, r := range s.Runs {
		if r.Result != state.ResultSynced {
			failed++
		}
		if r.Message != "" {
			problems = append(problems, untrusted.Visible(fmt.Sprintf("%s: %s: %s", r.Tenant, r.Result, r.Message)))
		}
		for _, c := range r.Changes {
			if c.Error != "" {
				problems = append(problems, untrusted.Visible(fmt.Sprintf("%s: %s %s: %s", r.Tenant, c.Action, c.Key, c.Error)))
			}
		}
	}
	if len(problems) > 0 {
		b.WriteString("\n")
		for _, p := range problems {
			fmt.Fprintf(&b, "error: %s\n", p)
		}
	}
	if len(s.Runs) > 0 {
		fmt.Fprintf(&b, "\nSynced %d of %d tenants.\n", len(s.Runs)-failed, len(s.Runs))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// shortHash is a commit hash cut to 12 digits.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
