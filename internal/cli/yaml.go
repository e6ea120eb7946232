package cli

import (
	"bytes"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/k3sync/k3sync/internal/untrusted"
)

// marshalYAML encodes v as YAML in the field order of its JSON form (struct
// order, "name" first), where converting through a map would sort keys.
func marshalYAML(v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var n yaml.Node
	// JSON is YAML, but for the C1 controls and format characters JSON
	// leaves raw and YAML refuses: those as \u escapes.
	if err := yaml.Unmarshal([]byte(untrusted.QuotedEscapes(string(j), true)), &n); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	blockStyle(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return []byte(untrusted.QuotedEscapes(b.String(), true)), nil
}

// blockStyle drops the flow and quoting styles JSON input comes with; the
// encoder still quotes strings that would otherwise read as other types.
// A string with a control or format character (tenant input: a newline,
// ESC, a bidi override) is double-quoted, where the encoder escapes the
// control characters and untrusted.QuotedEscapes the rest: the terminal
// gets none of them raw.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && untrusted.Visible(n.Value) != n.Value {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
