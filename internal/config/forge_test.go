package config

import (
	"strings"
	"testing"
	"time"
)

func TestForge(t *testing.T) {
	c, err := Parse([]byte(`
git: {url: "https://git.example/o/platform.git"}
forge:
  kind: gitea
  url: https://git.example
  repo: o/platform
  token: {tokenEnv: GITEA_TOKEN}
  dashboardURL: https://k3sync.example
  interval: 2m
`))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Forge
	if !f.Enabled() || f.Kind != ForgeGitea || f.Repo != "o/platform" || f.Token.TokenEnv != "GITEA_TOKEN" || f.IntervalOrDefault() != 2*time.Minute {
		t.Errorf("forge: %+v", f)
	}
	if err := f.Validate(); err != nil {
		t.Error(err)
	}
	if (Forge{}).Validate() != nil || (Forge{}).Enabled() || (Forge{}).IntervalOrDefault() != DefaultForgeInterval {
		t.Error("the zero Forge is valid and disabled")
	}
	for _, tc := range []struct {
		f    Forge
		want string
	}{
		{Forge{Kind: "gitlab", Repo: "o/r", Token: Secret{TokenEnv: "T"}}, `forge.kind: "gitlab" is not github or gitea`},
		{Forge{Kind: ForgeGitHub, Repo: "o", Token: Secret{TokenEnv: "T"}}, `forge.repo: "o" is not owner/name`},
		{Forge{Kind: ForgeGitHub, Repo: "o/r/x", Token: Secret{TokenEnv: "T"}}, `forge.repo: "o/r/x" is not owner/name`},
		{Forge{Kind: ForgeGitHub, Repo: "o/r"}, "forge.token: tokenFile or tokenEnv is required"},
		{Forge{Kind: ForgeGitea, Repo: "o/r", Token: Secret{TokenEnv: "T"}}, "forge.url: required for gitea"},
		{Forge{Kind: ForgeGitHub, Repo: "o/r", Token: Secret{TokenEnv: "T"}, URL: "ftp://x"}, `forge.url: "ftp://x" is not an http(s) URL`},
		{Forge{Kind: ForgeGitHub, Repo: "o/r", Token: Secret{TokenEnv: "T"}, URL: "https://u:p@x"}, "carries credentials"},
		{Forge{Kind: ForgeGitHub, Repo: "o/r", Token: Secret{TokenEnv: "T"}, DashboardURL: "k3sync.example"}, "forge.dashboardURL"},
	} {
		err := tc.f.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "u:p") {
			t.Errorf("credentials printed: %v", err)
		}
	}
}
