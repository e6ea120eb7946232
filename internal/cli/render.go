package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/render"
)

func newRender() *cobra.Command {
	var repoDir string
	var tenants []string
	output := &outputFlag{value: "yaml", allowed: []string{"yaml", "json"}}
	cmd := &cobra.Command{
		Use:   "render --repo DIR [--tenant T]",
		Short: "Print the desired resources per system and target, connecting to nothing",
		Long: `Print what the repo asks for: Kubernetes objects per cluster, Kafka topics,
ACLs, quotas and users per Kafka cluster, Kong entities per gateway, grouped
by tenant in a stable order. Nothing is contacted; secrets are never shown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, errs, err := loadRepo(cmd, repoDir, loader.Options{})
			if err != nil {
				return err
			}
			if len(errs) > 0 {
				return invalidRepoError{errs}
			}
			for _, t := range tenants {
				if repo.Tenant(t) == nil {
					return fmt.Errorf("tenant %q: not in the repo", t)
				}
			}
			out := render.Repo(repo, tenants...)
			if output.value == "json" {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			b, err := marshalYAML(out)
			if err != nil {
				return fmt.Errorf("encode: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err //nolint:wrapcheck // the writer's error says it all
		},
	}
	cmd.Flags().StringVar(&repoDir, "repo", ".", "platform repo folder")
	cmd.Flags().StringSliceVar(&tenants, "tenant", nil, "only these tenants (repeatable or comma-separated)")
	cmd.Flags().Var(output, "output", "output format: yaml or json")
	return cmd
}
