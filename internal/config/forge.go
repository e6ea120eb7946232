package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Forge kinds.
const (
	ForgeGitHub = "github"
	ForgeGitea  = "gitea"
	ForgeGitLab = "gitlab"
)

// DefaultForgeInterval is how often open pull requests are listed when
// forge.interval is not set; webhooks list them earlier.
const DefaultForgeInterval = time.Minute

// Forge is the forge that hosts the platform repo. With it set, k3sync
// plans every open pull request against the tracked branch and posts the
// plan as a commit status and one comment that it keeps up to date.
//
//	forge:
//	  kind: github
//	  repo: example/platform
//	  token: {tokenEnv: GITHUB_TOKEN}
//	  dashboardURL: https://k3sync.example
type Forge struct {
	// Kind is github, gitea, gitlab, or empty for no pull request
	// feedback.
	Kind string `json:"kind,omitempty"`
	// URL is the API base: https://api.github.com/ by default for GitHub,
	// https://ghe.example/api/v3/ for GitHub Enterprise, the Gitea root
	// (or its /api/v1) for Gitea, where it is required, the GitLab root
	// (or its /api/v4) for GitLab, https://gitlab.com by default.
	URL string `json:"url,omitempty"`
	// Repo is the platform repo as owner/name; on GitLab, the project's
	// full path, with nested groups: group/subgroup/name.
	Repo string `json:"repo,omitempty"`
	// Token may read pull requests and write statuses and comments; it is
	// read from tokenFile or tokenEnv.
	Token Secret `json:"token"`
	// DashboardURL is where the k3sync dashboard is served; statuses and
	// shortened comments link to its tenant pages.
	DashboardURL string `json:"dashboardURL,omitempty"`
	// Interval between listings of open pull requests (default 1m).
	Interval Duration `json:"interval,omitempty"`
	// Login is the GitHub account the token posts as, <app-slug>[bot] for
	// a GitHub App: k3sync edits only comments of this account. A user
	// token says who it is; an App's installation token cannot, and
	// without Login k3sync edits no comment it did not create since it
	// started (one new comment per open pull request after a restart).
	Login string `json:"login,omitempty"`
}

// Enabled reports whether pull request feedback is configured.
func (f Forge) Enabled() bool { return f.Kind != "" }

// Validate checks the forge settings; a zero Forge is valid and disabled.
func (f Forge) Validate() error {
	if f.Kind == "" {
		return nil
	}
	var errs []error
	switch f.Kind {
	case ForgeGitHub, ForgeGitea, ForgeGitLab:
	default:
		errs = append(errs, fmt.Errorf("forge.kind: %q is not github, gitea or gitlab", f.Kind))
	}
	if f.Kind == ForgeGitLab {
		if !gitlabProject(f.Repo) {
			errs = append(errs, fmt.Errorf("forge.repo: %q is not group/name or group/subgroup/name", f.Repo))
		}
	} else if owner, name, ok := strings.Cut(f.Repo, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		errs = append(errs, fmt.Errorf("forge.repo: %q is not owner/name", f.Repo))
	}
	if !f.Token.IsSet() {
		errs = append(errs, errors.New("forge.token: tokenFile or tokenEnv is required"))
	}
	if f.Login != "" && f.Kind != ForgeGitHub {
		errs = append(errs, errors.New("forge.login: only for github (Gitea and GitLab tokens say whose they are)"))
	}
	if f.Kind == ForgeGitea && f.URL == "" {
		errs = append(errs, errors.New("forge.url: required for gitea"))
	}
	if f.URL != "" {
		if err := httpURL(f.URL); err != nil {
			errs = append(errs, fmt.Errorf("forge.url: %w", err))
		}
	}
	if f.DashboardURL != "" {
		if err := httpURL(f.DashboardURL); err != nil {
			errs = append(errs, fmt.Errorf("forge.dashboardURL: %w", err))
		}
	}
	if f.Interval.Duration < 0 {
		errs = append(errs, fmt.Errorf("forge.interval: %s is negative", f.Interval.Duration))
	}
	return errors.Join(errs...)
}

// IntervalOrDefault is Interval, or DefaultForgeInterval when unset.
func (f Forge) IntervalOrDefault() time.Duration {
	if f.Interval.Duration > 0 {
		return f.Interval.Duration
	}
	return DefaultForgeInterval
}

// gitlabProject reports whether p is a GitLab project's full path: a
// namespace of one or more groups, then the name, no segment empty, "."
// or "..".
func gitlabProject(p string) bool {
	segs := strings.Split(p, "/")
	if len(segs) < 2 {
		return false
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	return true
}

func httpURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q carries credentials: use token", u.Redacted())
	}
	return nil
}
