package kafkaspec

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTopicNameLength is the longest topic name Kafka accepts.
const MaxTopicNameLength = 249

// ValidateTopicName reports why Kafka would reject name, or nil.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return errors.New("topic name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("topic name %q is not allowed", name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("topic name %q is %d characters long, Kafka allows at most %d", name, len(name), MaxTopicNameLength)
	}
	for i, r := range name {
		if !legalNameRune(r) {
			return fmt.Errorf("topic name %q has illegal character %q at %d: Kafka allows only ASCII letters, digits, '.', '_' and '-'", name, r, i)
		}
	}
	return nil
}

func legalNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// CollisionKey is the name Kafka compares topics by when deciding whether
// two names collide in metrics: '.' and '_' are the same character there.
func CollisionKey(name string) string {
	return strings.ReplaceAll(name, ".", "_")
}

// ValidatePrefix reports why name cannot be a prefixed resource pattern.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return errors.New("prefix is empty")
	}
	for i, r := range prefix {
		if !legalNameRune(r) {
			return fmt.Errorf("prefix %q has illegal character %q at %d", prefix, r, i)
		}
	}
	return nil
}

// ValidateUserName reports why name cannot be a SCRAM user of k3sync. Kafka
// itself accepts more; k3sync keeps to names that need no escaping in SCRAM
// (',' and '=') or in principals (':') and can name a Kubernetes Secret.
func ValidateUserName(name string) error {
	if name == "" {
		return errors.New("user name is empty")
	}
	if len(name) > MaxTopicNameLength {
		return fmt.Errorf("user name %q is longer than %d characters", name, MaxTopicNameLength)
	}
	for i, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '.' && r != '-' {
			return fmt.Errorf("user name %q has character %q at %d: use lower-case letters, digits, '.' and '-'", name, r, i)
		}
	}
	return nil
}
