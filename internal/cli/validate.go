package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/daemon"
	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/source"
)

func newValidate() *cobra.Command {
	var repoDir, configFile string
	output := &outputFlag{value: "text", allowed: []string{"text", "json"}}
	cmd := &cobra.Command{
		Use:   "validate --repo DIR [--config FILE]",
		Short: "Check a platform repo against the schema and the platform policy",
		Long: `Check a platform repo against the CUE schema and the platform policy.

Errors are printed one per line as FILE:LINE:COL: CUE.PATH: message, with
FILE relative to the repo, all of them, sorted. With --config, the
namespaces k3sync itself uses (state, leader election) are reserved too,
as in plan, apply and serve. Exit code 0 means valid, 1 invalid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var opts loader.Options
			if configFile != "" {
				cfg, err := config.Load(configFile)
				if err != nil {
					return err //nolint:wrapcheck // config errors name the file
				}
				if opts, err = daemon.LoaderOptions(cfg); err != nil {
					return err //nolint:wrapcheck // names the sandbox
				}
			}
			repo, errs, err := loadRepo(cmd, repoDir, opts)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output.value == "json" {
				if errs == nil {
					errs = diag.List{}
				}
				if err := writeJSON(w, validateOutput{Valid: len(errs) == 0, Errors: errs}); err != nil {
					return err
				}
			} else if len(errs) > 0 {
				fmt.Fprintln(w, errs.Error())
			} else {
				fmt.Fprintf(w, "%s: valid (%d clusters, %d Kafka clusters, %d gateways, %d tenants)\n", repoDir,
					len(repo.Platform.Clusters), len(repo.Platform.Kafka), len(repo.Platform.Gateways), len(repo.Tenants))
			}
			if len(errs) > 0 {
				return exitError{ExitError}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&repoDir, "repo", ".", "platform repo folder")
	cmd.Flags().StringVar(&configFile, "config", "", "configuration file, for the namespaces k3sync itself uses (optional)")
	cmd.Flags().Var(output, "output", "output format: text or json")
	return cmd
}

// loadRepo loads dir with opts. A repo that does not validate returns its
// errors; anything else (a missing folder) is err.
func loadRepo(cmd *cobra.Command, dir string, opts loader.Options) (*model.Repo, diag.List, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("repo %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, nil, fmt.Errorf("repo %s: not a folder", dir)
	}
	// The folder is read as the daemon reads a commit: symbolic links
	// are followed only inside it.
	fsys, err := source.Folder(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("repo %s: %w", dir, err)
	}
	defer func() { _ = fsys.Close() }()
	if opts.Sandbox == nil {
		// Tenant folders are untrusted: evaluate them bounded in time and
		// memory, in a child process that SIGINT ends at once.
		if opts.Sandbox, err = loader.NewSandbox(); err != nil {
			return nil, nil, fmt.Errorf("repo %s: %w", dir, err)
		}
	}
	repo, err := loader.LoadWith(cmd.Context(), fsys, opts)
	if err != nil {
		if l, ok := loader.Validation(err); ok {
			return nil, l, nil
		}
		return nil, nil, fmt.Errorf("repo %s: %w", dir, err)
	}
	return repo, nil, nil
}
