package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEConfigParses keeps the configuration README.md shows for
// forges, notifications and sign-in valid: strictly parsed and validated
// as k3sync reads its config file.
func TestREADMEConfigParses(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for _, part := range strings.Split(string(readme), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		if strings.Contains(body, "notifications:") {
			block = body
		}
	}
	if block == "" {
		t.Fatal("README.md shows no yaml block with notifications:")
	}
	c, err := Parse([]byte(block))
	if err != nil {
		t.Fatalf("the README's config does not parse:\n%v", err)
	}
	if c.Forge.Kind != ForgeGitLab || len(c.Notifications.Sinks) != 2 || c.Server.SSO == nil {
		t.Errorf("the README's config lost a section: forge %q, %d sinks, sso %v", c.Forge.Kind, len(c.Notifications.Sinks), c.Server.SSO)
	}
}
