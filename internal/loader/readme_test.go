package loader

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// TestREADMEExampleValidates keeps the tenant shown in README.md valid
// against the example platform.
func TestREADMEExampleValidates(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```cue\n")
	if !ok {
		t.Fatal("README.md has no ```cue block")
	}
	tenant, _, _ := strings.Cut(rest, "```")
	platform, err := os.ReadFile(exampleRepo + "/platform.cue")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(fstest.MapFS{
		"platform.cue":                {Data: platform},
		"tenants/payments/tenant.cue": {Data: []byte(tenant)},
	})
	if err != nil {
		t.Fatalf("the README's tenant does not validate:\n%v", err)
	}
}
