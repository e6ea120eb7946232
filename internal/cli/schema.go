package cli

import (
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/k3sync/k3sync/schema"
)

func newSchema() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the CUE schema k3sync validates against",
		Long: `Print the embedded CUE schema (package k3sync), for use with cue vet:

  k3sync schema > /tmp/k3sync_schema.cue
  cue vet -c -d '#Tenant' /tmp/k3sync_schema.cue tenants/payments/tenant.cue`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := combinedSchema()
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), src)
			return err //nolint:wrapcheck // the writer's error says it all
		},
	}
}

// combinedSchema joins the schema files into one CUE file: one package
// clause, the imports of all files, then each file's declarations.
func combinedSchema() (string, error) {
	entries, err := fs.ReadDir(schema.Files, ".")
	if err != nil {
		return "", fmt.Errorf("schema: %w", err)
	}
	imports := map[string]bool{}
	var bodies strings.Builder
	for _, e := range entries {
		src, err := fs.ReadFile(schema.Files, e.Name())
		if err != nil {
			return "", fmt.Errorf("schema %s: %w", e.Name(), err)
		}
		fmt.Fprintf(&bodies, "\n// ---- %s ----\n", e.Name())
		for _, line := range strings.Split(string(src), "\n") {
			switch {
			case strings.HasPrefix(line, "package "):
			case strings.HasPrefix(line, "import "):
				imports[strings.TrimSpace(strings.TrimPrefix(line, "import "))] = true
			default:
				bodies.WriteString(line)
				bodies.WriteByte('\n')
			}
		}
	}
	var b strings.Builder
	b.WriteString("package k3sync\n\n")
	for _, imp := range slices.Sorted(maps.Keys(imports)) {
		fmt.Fprintf(&b, "import %s\n", imp)
	}
	b.WriteString(bodies.String())
	return b.String(), nil
}
