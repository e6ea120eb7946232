package model

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// TopicConfigs are Kafka topic configs in Kafka's own string form. CUE lets
// users write numbers and booleans ("retention.ms": 604800000); they are
// kept as the literal text Kafka would be sent.
type TopicConfigs map[string]string

// UnmarshalJSON accepts strings, numbers and booleans as values.
func (c *TopicConfigs) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("topic configs: %w", err)
	}
	out := make(TopicConfigs, len(raw))
	for k, v := range raw {
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '"' {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("topic config %s: %w", k, err)
			}
			out[k] = s
			continue
		}
		switch {
		case len(v) == 0, v[0] == '{', v[0] == '[', string(v) == "null":
			return fmt.Errorf("topic config %s: want a string, number or boolean, got %s", k, v)
		}
		out[k] = string(v)
	}
	*c = out
	return nil
}
