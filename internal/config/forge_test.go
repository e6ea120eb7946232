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
		{Forge{Kind: "bitbucket", Repo: "o/r", Token: Secret{TokenEnv: "T"}}, `forge.kind: "bitbucket" is not github, gitea or gitlab`},
		{Forge{Kind: ForgeGitLab, Repo: "platform", Token: Secret{TokenEnv: "T"}}, `forge.repo: "platform" is not group/name or group/subgroup/name`},
		{Forge{Kind: ForgeGitLab, Repo: "infra//platform", Token: Secret{TokenEnv: "T"}}, `forge.repo: "infra//platform" is not group/name`},
		{Forge{Kind: ForgeGitLab, Repo: "infra/../platform", Token: Secret{TokenEnv: "T"}}, `forge.repo: "infra/../platform" is not group/name`},
		{Forge{Kind: ForgeGitLab, Repo: "infra/platform/", Token: Secret{TokenEnv: "T"}}, `forge.repo: "infra/platform/" is not group/name`},
		{Forge{Kind: ForgeGitHub, Repo: "o", Token: Secret{TokenEnv: "T"}}, `forge.repo: "o" is not owner/name`},
		{Forge{Kind: ForgeGitHub, Repo: "o/r/x", Token: Secret{TokenEnv: "T"}}, `forge.repo: "o/r/x" is not owner/name`},
		{Forge{Kind: ForgeGitHub, Repo: "o/r"}, "forge.token: tokenFile or tokenEnv is required"},
		{Forge{Kind: ForgeGitea, Repo: "o/r", Token: Secret{TokenEnv: "T"}}, "forge.url: required for gitea"},
		{Forge{Kind: ForgeGitLab, Repo: "o/r", Token: Secret{TokenEnv: "T"}, Login: "k3sync[bot]"}, "forge.login: only for github"},
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

// TestForgeGitLab: a GitLab project may sit in nested groups, the URL
// defaults to gitlab.com, and the webhook secret sits next to the others.
func TestForgeGitLab(t *testing.T) {
	c, err := Parse([]byte(`
git: {url: "https://gitlab.example/infra/platform/k3sync.git"}
server:
  webhooks:
    gitlab: {secretEnv: GITLAB_WEBHOOK_SECRET}
forge:
  kind: gitlab
  repo: infra/platform/k3sync
  token: {tokenFile: /etc/k3sync/gitlab-token}
`))
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Forge; f.Kind != ForgeGitLab || f.Repo != "infra/platform/k3sync" || f.URL != "" || f.Token.TokenFile != "/etc/k3sync/gitlab-token" {
		t.Errorf("forge: %+v", f)
	}
	if c.Server.Webhooks.GitLab.SecretEnv != "GITLAB_WEBHOOK_SECRET" {
		t.Errorf("webhooks: %+v", c.Server.Webhooks)
	}
	for _, repo := range []string{"g/p", "g/sub/p", "g/a/b/c/p"} {
		if err := (Forge{Kind: ForgeGitLab, Repo: repo, URL: "https://gitlab.example", Token: Secret{TokenEnv: "T"}}).Validate(); err != nil {
			t.Errorf("%s: %v", repo, err)
		}
	}
	// Nested groups are GitLab's: owner/name elsewhere.
	if err := (Forge{Kind: ForgeGitHub, Repo: "g/sub/p", Token: Secret{TokenEnv: "T"}}).Validate(); err == nil {
		t.Error("github accepted a nested repo")
	}
}
