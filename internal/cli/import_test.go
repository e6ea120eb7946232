package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	gokong "github.com/kong/go-kong/kong"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/k3sync/k3sync/internal/kongemu"
)

// TestImportCommand runs k3sync import against kfake and the Kong
// emulator (the importer's own tests cover Kubernetes): the file is
// written, validated with --repo, and an import the platform refuses
// exits 1 with the loader's errors.
func TestImportCommand(t *testing.T) {
	ctx := t.Context()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	kongURL, err := kongemu.New(kongemu.Options{}).Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("86400000")}, "search.queries"); err != nil {
		t.Fatal(err)
	}
	kong, err := gokong.NewClient(gokong.String(kongURL), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := kong.Services.Create(ctx, &gokong.Service{Name: gokong.String("search-api"), URL: gokong.String("https://search.example.com/v1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kong.Routes.Create(ctx, &gokong.Route{Name: gokong.String("search-query"), Service: &gokong.Service{ID: svc.ID}, Paths: gokong.StringSlice("/search")}); err != nil {
		t.Fatal(err)
	}

	repo := t.TempDir()
	if err := os.CopyFS(repo, os.DirFS(filepath.Join("..", "..", "examples", "platform-repo"))); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "kafka:\n  main:\n    brokers: ["+strings.Join(kc.ListenAddrs(), ", ")+"]\ngateways:\n  edge:\n    adminURL: "+kongURL+"\n")
	out := t.TempDir()
	args := []string{"import", "--config", cfg, "--tenant", "search", "--owner", "team-search@example.com", "--out", out, "--repo", repo}

	stdout, stderr, code := run(t, args...)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing (the file is the output)", stdout)
	}
	for _, want := range []string{"kafka main: 1 topics read", "validates with the platform of"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	file, err := os.ReadFile(filepath.Join(out, "tenants", "search", "tenant.cue"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"search.queries"`, `"retention.ms": 86400000`, `"search-api"`, `paths: ["/search"]`, "adopt: true"} {
		if !strings.Contains(string(file), want) {
			t.Errorf("file lacks %q:\n%s", want, file)
		}
	}

	t.Run("exists", func(t *testing.T) {
		if _, stderr, code := run(t, args...); code != ExitError || !strings.Contains(stderr, "--force") {
			t.Errorf("second import: exit %d, stderr %q; want 1 naming --force", code, stderr)
		}
	})
	t.Run("bad tenant name", func(t *testing.T) {
		if _, stderr, code := run(t, "import", "--config", cfg, "--tenant", "../etc", "--out", out); code != ExitError || !strings.Contains(stderr, "DNS-1123") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("refused by the platform", func(t *testing.T) {
		// A route outside the tenant's paths imports, but the platform
		// refuses it: it becomes a comment, the rest validates.
		if _, err := kong.Routes.Create(ctx, &gokong.Route{Name: gokong.String("search-legacy"), Service: &gokong.Service{ID: svc.ID}, Paths: gokong.StringSlice("/legacy")}); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := run(t, append(args, "--force")...)
		t.Logf("stderr:\n%s", stderr)
		if code != ExitOK {
			t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
		}
		want := `kong.services."search-api".routes."search-legacy": the platform refuses it: path "/legacy" is outside tenant search's prefix "/search"`
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
		file, err := os.ReadFile(filepath.Join(out, "tenants", "search", "tenant.cue"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(file), "// not importable: "+want) {
			t.Errorf("file lacks the comment:\n%s", file)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		// A Kafka cluster the platform does not have cannot be left out:
		// exit 1 with the loader's error; the file is written.
		other := writeConfig(t, "kafka:\n  other:\n    brokers: ["+strings.Join(kc.ListenAddrs(), ", ")+"]\n")
		_, stderr, code := run(t, "import", "--config", other, "--tenant", "search", "--out", t.TempDir(), "--repo", repo)
		if code != ExitError {
			t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
		}
		if !strings.Contains(stderr, `tenants/search/tenant.cue:`) || !strings.Contains(stderr, `Kafka cluster "other" is not defined in platform.cue`) {
			t.Errorf("stderr lacks the validation error:\n%s", stderr)
		}
	})
}

// TestREADMEBringingAnExistingTeam runs the three commands of the
// README's "Bringing an existing team", as written, in a platform repo
// that does not have the team yet, against Kafka (kfake) and the Kong
// emulator holding the team's topic, service and route: import writes
// the tenant, validate passes, and plan adopts what exists and creates
// nothing.
func TestREADMEBringingAnExistingTeam(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Bringing an existing team\n")
	if !ok {
		t.Fatal(`README.md has no "### Bringing an existing team" section`)
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatal("the section has no ```sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	var commands [][]string
	for line := range strings.Lines(block) {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if fields[0] != "k3sync" {
			t.Fatalf("README command %q does not run k3sync", line)
		}
		commands = append(commands, fields[1:])
	}
	if len(commands) != 3 || commands[0][0] != "import" || commands[1][0] != "validate" || commands[2][0] != "plan" {
		t.Fatalf("README commands %q, want import, validate, plan", commands)
	}

	ctx := t.Context()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	kongURL, err := kongemu.New(kongemu.Options{}).Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if r, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, "payments.ledger"); err != nil || r.Err != nil {
		t.Fatal(err, r.Err)
	}
	kong, err := gokong.NewClient(gokong.String(kongURL), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := kong.Services.Create(ctx, &gokong.Service{Name: gokong.String("payments-api"), URL: gokong.String("https://payments.example.com/v1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kong.Routes.Create(ctx, &gokong.Route{Name: gokong.String("payments-public"), Service: &gokong.Service{ID: svc.ID}, Paths: gokong.StringSlice("/payments")}); err != nil {
		t.Fatal(err)
	}

	// The platform repo, without the team: the README's working folder.
	repo := t.TempDir()
	if err := os.CopyFS(repo, os.DirFS(filepath.Join("..", "..", "examples", "platform-repo"))); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(repo, "tenants", "payments")); err != nil {
		t.Fatal(err)
	}
	cfg := "kafka:\n  main:\n    brokers: [" + strings.Join(kc.ListenAddrs(), ", ") + "]\ngateways:\n  edge:\n    adminURL: " + kongURL + "\n" +
		"state:\n  path: " + filepath.Join(t.TempDir(), "state.db") + "\n"
	if err := os.WriteFile(filepath.Join(repo, "k3sync.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(repo)

	if _, stderr, code := run(t, commands[0]...); code != ExitOK {
		t.Fatalf("k3sync %s: exit %d\n%s", strings.Join(commands[0], " "), code, stderr)
	}
	file, err := os.ReadFile(filepath.Join("tenants", "payments", "tenant.cue"))
	if err != nil {
		t.Fatalf("import wrote no tenants/payments/tenant.cue: %v", err)
	}
	if !strings.Contains(string(file), "adopt: true") {
		t.Errorf("the imported tenant does not adopt:\n%s", file)
	}
	if stdout, stderr, code := run(t, commands[1]...); code != ExitOK {
		t.Fatalf("k3sync %s: exit %d\n%s%s", strings.Join(commands[1], " "), code, stdout, stderr)
	}
	// Exit 2: the plan has changes (the adoptions).
	stdout, stderr, code := run(t, commands[2]...)
	if code != ExitChanges {
		t.Fatalf("k3sync %s: exit %d\n%s%s", strings.Join(commands[2], " "), code, stdout, stderr)
	}
	for _, want := range []string{"adopt topic payments.ledger", "adopt service payments-api", "adopt route payments-public"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
	if want := "Plan: 0 to create, 0 to update, 0 to delete, 0 to orphan, 0 blocked, 3 to adopt."; !strings.Contains(stdout, want) {
		t.Errorf("plan lacks %q:\n%s", want, stdout)
	}
}
