package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/daemon"
	"github.com/k3sync/k3sync/internal/dashboard"
	"github.com/k3sync/k3sync/internal/metrics"
	"github.com/k3sync/k3sync/internal/server"
	"github.com/k3sync/k3sync/internal/untrusted"
)

func newServe() *cobra.Command {
	var configFile, logFormat, logLevel string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the daemon: follow Git, apply, check drift, serve the API",
		Long: `Run k3sync as a daemon: poll the platform repo (early on push webhooks),
apply what changed, check drift on each tenant's schedule, and serve
/healthz, /readyz, /metrics and the /api/v1 API on the configured address.
With reconcile.leaderElection set, only the replica holding the Lease applies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg, err := config.Load(configFile)
			if err != nil {
				return err //nolint:wrapcheck // names the file
			}
			return serve(cmd.Context(), cfg, log, nil)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "k3sync.yaml", "configuration file")
	addLogFlags(cmd, &logFormat, &logLevel)
	return cmd
}

func addLogFlags(cmd *cobra.Command, format, level *string) {
	cmd.Flags().StringVar(format, "log-format", "text", "log format: text or json")
	cmd.Flags().StringVar(level, "log-level", "info", "log level: debug, info, warn or error")
}

func newLogger(format, level string) (*slog.Logger, error) {
	return newLoggerTo(os.Stderr, format, level)
}

// newLoggerTo logs to w. Attribute values carry tenant strings (names,
// errors quoting them): each stays inside its attribute, with its control
// and format characters written as escapes (untrusted.Visible), so a name
// can neither forge a log line nor reach a terminal's escape sequences,
// in either format.
func newLoggerTo(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: visibleAttr}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// visibleAttr makes string and error values untrusted.Visible.
func visibleAttr(_ []string, a slog.Attr) slog.Attr {
	switch v := a.Value.Resolve(); {
	case v.Kind() == slog.KindString:
		a.Value = slog.StringValue(untrusted.Visible(v.String()))
	case v.Kind() == slog.KindAny:
		if err, ok := v.Any().(error); ok {
			a.Value = slog.StringValue(untrusted.Visible(err.Error()))
		}
	}
	return a
}

// backend is the reconciler as the API sees it, with the daemon's
// leader-aware readiness.
type backend struct {
	server.Backend
	d *daemon.Daemon
}

func (b backend) Ready() error { return b.d.Ready() }

// serve runs the daemon and its HTTP server until ctx ends; ready, when
// set, is called once the server listens.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, extra []server.Option) error {
	setMemoryLimit(log)
	reg := metrics.NewRegistry()
	d, err := daemon.New(cfg, daemon.Options{Logger: log, Metrics: metrics.New(reg), ForgeMetrics: metrics.NewForge(reg)})
	if err != nil {
		return err //nolint:wrapcheck // says what failed
	}
	defer d.Close()
	if d.Notifier != nil {
		reg.MustRegister(d.Notifier) // k3sync_notifications_total and friends
	}
	tokens, err := server.ReadTokens(cfg.Server)
	if err != nil {
		return err //nolint:wrapcheck // says which token is wrong
	}
	dashOpts, err := dashboardOptions(cfg.Server, log)
	if err != nil {
		return err
	}
	dash := dashboard.New(backend{Backend: d.Reconciler, d: d}, tokens, dashOpts...)
	opts := append([]server.Option{server.WithMetrics(reg), server.WithLogger(log), server.WithHandler("/", dash)}, extra...)
	srv, err := server.New(cfg.Server, backend{Backend: d.Reconciler, d: d}, d.Hooks(), opts...)
	if err != nil {
		return err //nolint:wrapcheck // says what is wrong
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Start(gctx) })
	g.Go(func() error { return srv.Start(gctx) })
	log.InfoContext(ctx, "k3sync serving", "listen", cfg.Server.Listen, "git", cfg.Git.URL, "branch", cfg.Git.Branch)
	return g.Wait() //nolint:wrapcheck // the parts' own errors
}

// dashboardOptions reads the dashboard's session keys and SSO client
// secret from their files or environment variables.
func dashboardOptions(cfg config.Server, log *slog.Logger) ([]dashboard.Option, error) {
	opts := []dashboard.Option{dashboard.WithLogger(log)}
	if cfg.SessionTTL.Duration > 0 { // else the dashboard's default
		opts = append(opts, dashboard.WithSessionTTL(cfg.SessionTTL.Duration))
	}
	keys, err := cfg.ReadSessionKeys()
	if err != nil {
		return nil, err //nolint:wrapcheck // names the key
	}
	if len(keys) > 0 {
		opts = append(opts, dashboard.WithSessionKeys(keys...))
	} else {
		log.Warn("server.sessionKeys not set: dashboard sessions end when this process does and work on this replica only")
	}
	if o := cfg.SSO; o != nil {
		secret, err := o.ClientSecret.Value()
		if err != nil {
			return nil, fmt.Errorf("server.sso.clientSecret: %w", err)
		}
		if secret == "" {
			return nil, errors.New("server.sso.clientSecret: empty")
		}
		opts = append(opts, dashboard.WithSSO(dashboard.SSO{
			Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, RedirectURL: o.RedirectURL,
			Scopes: o.Scopes, GroupsClaim: o.GroupsClaim, OperatorGroups: o.OperatorGroups, ViewerGroups: o.ViewerGroups,
		}))
		if o.DisableTokenLogin {
			opts = append(opts, dashboard.WithoutTokenLogin())
		}
	}
	return opts, nil
}
