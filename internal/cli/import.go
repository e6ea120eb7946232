package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/importer"
	"github.com/k3sync/k3sync/internal/source"
	"github.com/k3sync/k3sync/internal/untrusted"
)

// tenantName is what a tenant (folder) name must be: a DNS-1123 label.
var tenantName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func newImport() *cobra.Command {
	var (
		configFile, repoDir, outDir string
		opts                        importer.Options
		kafkaCluster, gateway       string
		force                       bool
	)
	cmd := &cobra.Command{
		Use:   "import --config FILE --tenant T [--namespace N…] [--topic-prefix P] [--kong-tag X | --kong-prefix P] [--out DIR] [--repo DIR]",
		Short: "Write a tenant's CUE from what a team already has on the live systems",
		Long: `Read what a team already has on the live systems of the config file and
write it as <out>/tenants/T/tenant.cue, to onboard the team onto k3sync.

Kubernetes: the namespaces (--namespace, default T) on every cluster of the
config that has them, with their ResourceQuota, LimitRange, labels,
annotations and RoleBindings of groups to the allowed ClusterRoles (as
access grants). Kafka: the topics starting with --topic-prefix (default
"T."), with only the configs set on the topic, the ACLs, client quotas and
SCRAM users (mechanism only) of the users with that prefix. Kong: the
services (with routes and plugins), consumers (key-auth marked, never the
key) and upstreams (with targets) carrying --kong-tag, or named with
--kong-prefix (default "T-" and T itself).

The file sets policies: adopt: true, so the first plan adopts what exists.
What the schema or the platform cannot express is written as a comment
and listed on stderr, never dropped. With --repo, the file is written for
that repo's platform policy and validated with it (exit 1 when invalid).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			if !tenantName.MatchString(opts.Tenant) {
				return fmt.Errorf("--tenant %q: want a DNS-1123 label (lower case letters, digits and '-')", opts.Tenant)
			}
			if opts.KongTag != "" && opts.KongPrefix != "" {
				return errors.New("choose one of --kong-tag and --kong-prefix")
			}
			cfg, err := config.Load(configFile)
			if err != nil {
				return err //nolint:wrapcheck // config errors name the file
			}
			var repo fs.FS
			if repoDir != "" {
				folder, err := source.Folder(repoDir)
				if err != nil {
					return fmt.Errorf("repo %s: %w", repoDir, err)
				}
				defer func() { _ = folder.Close() }()
				repo = folder
				if opts.Platform, err = importer.Platform(repo); err != nil {
					return fmt.Errorf("repo %s: %w", repoDir, err)
				}
			}
			path := filepath.Join(outDir, filepath.FromSlash(importer.FileName(opts.Tenant)))
			if _, err := os.Stat(path); err == nil && !force {
				return fmt.Errorf("%s exists: remove it or add --force", path)
			}
			src, err := importer.Connect(cfg, kafkaCluster, gateway)
			if err != nil {
				return err //nolint:wrapcheck // names the system
			}
			defer src.Close()
			opts.Progress = func(format string, args ...any) {
				fmt.Fprintln(stderr, untrusted.Visible(fmt.Sprintf(format, args...)))
			}
			res, err := importer.Import(cmd.Context(), src, opts)
			if err != nil {
				return err //nolint:wrapcheck // names the system
			}
			// With the repo, what its platform refuses becomes comments too.
			var errs diag.List
			if repo != nil {
				if errs, err = res.Fit(repo); err != nil {
					return fmt.Errorf("validate with repo %s: %w", repoDir, err)
				}
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
			// Written whole or not at all: a signal may end the command.
			tmp := path + ".import.tmp"
			if err := os.WriteFile(tmp, res.File, 0o644); err != nil { //nolint:gosec // a repo file
				return fmt.Errorf("write %s: %w", path, err)
			}
			if err := os.Rename(tmp, path); err != nil {
				_ = os.Remove(tmp)
				return fmt.Errorf("write %s: %w", path, err)
			}
			report(stderr, path, res)
			if repo == nil {
				return nil
			}
			if len(errs) > 0 {
				fmt.Fprintf(stderr, "%s does not validate with the platform of %s (edit it, or fix the live systems and import again):\n%s\n", path, repoDir, errs.Error())
				return exitError{ExitError}
			}
			fmt.Fprintf(stderr, "%s validates with the platform of %s\n", path, repoDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "k3sync.yaml", "configuration file: how to reach each cluster, Kafka cluster and gateway")
	f.StringVar(&opts.Tenant, "tenant", "", "the tenant's name (its folder under tenants/)")
	f.StringSliceVar(&opts.Namespaces, "namespace", nil, "a namespace of the team, on every cluster that has it (repeat; default the tenant's name)")
	f.StringVar(&opts.TopicPrefix, "topic-prefix", "", `Kafka topics and users to import start with this (default "<tenant>.")`)
	f.StringVar(&opts.KongTag, "kong-tag", "", "import the Kong entities carrying this tag")
	f.StringVar(&opts.KongPrefix, "kong-prefix", "", `import the Kong entities whose name starts with this (default "<tenant>-" and the tenant's name)`)
	f.StringSliceVar(&opts.Owners, "owner", nil, "the tenant's owners, e-mail addresses or groups (repeat; default the tenant's name)")
	f.StringVar(&kafkaCluster, "kafka-cluster", "", "the Kafka cluster of the config to read (needed when it has several)")
	f.StringVar(&gateway, "gateway", "", "the Kong gateway of the config to read (needed when it has several)")
	f.StringVar(&outDir, "out", ".", "write <out>/tenants/<tenant>/tenant.cue")
	f.StringVar(&repoDir, "repo", "", "platform repo folder: write for its platform policy and validate the file with it")
	f.BoolVar(&force, "force", false, "overwrite the tenant's file if it exists")
	_ = cmd.MarkFlagRequired("tenant")
	return cmd
}

// report prints what was imported and what was not, on stderr.
func report(w interface{ Write([]byte) (int, error) }, path string, res *importer.Result) {
	var counts []string
	for _, k := range slices.Sorted(maps.Keys(res.Counts)) {
		counts = append(counts, fmt.Sprintf("%d %s", res.Counts[k], k))
	}
	if len(res.NotImportable) > 0 {
		fmt.Fprintf(w, "not importable (%d), written as comments:\n", len(res.NotImportable))
		for _, n := range res.NotImportable {
			fmt.Fprintf(w, "  - %s\n", untrusted.Visible(n))
		}
	}
	if len(res.Renamed) > 0 {
		fmt.Fprintf(w, "imported under k3sync's names (%d), to delete once the first apply is done:\n", len(res.Renamed))
		for _, n := range res.Renamed {
			fmt.Fprintf(w, "  - %s\n", untrusted.Visible(n))
		}
	}
	fmt.Fprintf(w, "wrote %s (%s)\n", path, strings.Join(counts, ", "))
}
