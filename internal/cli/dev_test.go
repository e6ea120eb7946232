package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/k3sync/k3sync/internal/testenv/fixture"
	"github.com/k3sync/k3sync/internal/testenv/syncbuf"
)

// bannerCommands returns the shell commands a banner prints: the
// k3sync, kubectl, kcat and curl lines, continuation lines joined.
func bannerCommands(banner string) []string {
	start := regexp.MustCompile(`(?:^|\s)((?:k3sync (?:sync|plan|apply|validate|render)|kubectl|kcat|curl) .*)$`)
	var out []string
	cont := false
	for line := range strings.SplitSeq(banner, "\n") {
		if cont {
			out[len(out)-1] += " " + strings.TrimSpace(strings.TrimSuffix(line, `\`))
			cont = strings.HasSuffix(line, `\`)
			continue
		}
		if m := start.FindStringSubmatch(line); m != nil && !strings.Contains(m[1], "…") {
			cont = strings.HasSuffix(m[1], `\`)
			out = append(out, strings.TrimSpace(strings.TrimSuffix(m[1], `\`)))
		}
	}
	return out
}

// shellFields splits a command line as a POSIX shell does for words,
// single quotes and backslashes (what the banner prints).
func shellFields(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '"' || c == '$' || c == '`' || c == ';' || c == '|' || c == '&':
			t.Fatalf("the banner's command %q needs more of a shell than this test splits", s)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// TestDevBannerCommands starts `k3sync dev` and runs every command its
// banner prints, as printed: the API call, k3sync sync and k3sync plan
// (through the daemon, with the printed token files), then the three ways
// to make drift (kubectl, kcat, curl), then sync again, which reverts
// the drift.
//
// It runs with each Kafka dev can start: kfake, and three real Apache
// Kafka nodes (--kafka broker).
func TestDevBannerCommands(t *testing.T) {
	for _, peer := range []string{devKafkaFake, devKafkaBroker} {
		t.Run(peer, func(t *testing.T) { testDevBanner(t, peer) })
	}
}

func testDevBanner(t *testing.T, kafkaPeer string) {
	clearPlanEnv(t)
	start := time.Now()
	// The example without its Sunday deny window: the banner's sync must
	// apply at any hour.
	banner := startDev(t, fixture.ExampleDir(t), kafkaPeer)
	t.Logf("k3sync dev ready in %s:%s", time.Since(start).Round(time.Second), banner)

	cmds := bannerCommands(banner)
	byName := map[string]string{}
	for _, c := range cmds {
		name := strings.Fields(c)[0]
		if name == "k3sync" {
			name += " " + strings.Fields(c)[1]
		}
		byName[name] = c
	}
	for _, name := range []string{"k3sync sync", "k3sync plan", "kubectl", "kcat", "curl"} {
		if byName[name] == "" {
			t.Fatalf("the banner prints no %s command:\n%s", name, banner)
		}
	}
	if len(cmds) != 5 {
		t.Errorf("commands in the banner: %q (a new one needs running here)", cmds)
	}

	// The API line, with the dashboard's (operator) token.
	tokenFile := regexp.MustCompile(`sign in with the token in (\S+)\)`).FindStringSubmatch(banner)
	apiURL := regexp.MustCompile(`API\s+(http://\S+)`).FindStringSubmatch(banner)
	if tokenFile == nil || apiURL == nil {
		t.Fatalf("no API URL or token file in the banner:\n%s", banner)
	}
	token := readTokenFile(t, shellFields(t, tokenFile[1])[0])
	if status, body := httpGet(t, apiURL[1], token); status != http.StatusOK || !strings.Contains(body, `"tenants"`) {
		t.Errorf("GET %s: %d %s", apiURL[1], status, body)
	}

	k3sync := func(line string) (string, int) {
		t.Helper()
		args := shellFields(t, line)[1:]
		var o, e bytes.Buffer
		code := Run(t.Context(), args, &o, &e)
		t.Logf("$ %s\n%s%s(exit %d)", line, o.String(), e.String(), code)
		return o.String(), code
	}
	if stdout, code := k3sync(byName["k3sync sync"]); code != ExitOK {
		t.Errorf("%s: exit %d\n%s", byName["k3sync sync"], code, stdout)
	}
	if !strings.Contains(byName["k3sync plan"], "viewer.token") {
		t.Errorf("the plan line does not use the viewer token: %s", byName["k3sync plan"])
	}
	// The daemon's plan: the example's analytics is suspended, so its
	// changes stay planned (exit 2); every other tenant is synced.
	stdout, code := k3sync(byName["k3sync plan"])
	if code != ExitChanges || !regexp.MustCompile(`^Planned by the daemon at revision [0-9a-f]{12}\.\n\nTenant analytics\n`).MatchString(stdout) ||
		strings.Count(stdout, "\nTenant ") != 1 || !strings.Contains(stdout, "\nPlan: 14 to create, 0 to update, 0 to delete, 0 to orphan, 0 blocked.\n") {
		t.Errorf("%s: exit %d\n%s", byName["k3sync plan"], code, stdout)
	}

	for _, name := range []string{"kubectl", "kcat"} {
		shell(t, byName[name])
	}
	curl := byName["curl"]
	kongRoute := regexp.MustCompile(`(http://\S+/routes/payments-public)`).FindStringSubmatch(curl)
	if kongRoute == nil {
		t.Fatalf("no Kong route URL in %q", curl)
	}
	if _, err := exec.LookPath("curl"); err == nil {
		// curl exits 0 on an HTTP error unless told otherwise.
		shell(t, curl+" --fail-with-body -sS -o /dev/null")
	} else {
		curlForm(t, curl)
	}
	var route struct{ Paths []string }
	if status, body := httpGet(t, kongRoute[1], ""); status != http.StatusOK || json.Unmarshal([]byte(body), &route) != nil ||
		strings.Join(route.Paths, ",") != "/payments/v2" {
		t.Fatalf("route after curl: %d %s", status, body)
	}

	// A sync puts Git back.
	if stdout, code := k3sync(byName["k3sync sync"]); code != ExitOK || !strings.Contains(stdout, "payments  synced") {
		t.Errorf("sync after drift: exit %d\n%s", code, stdout)
	}
	if status, body := httpGet(t, kongRoute[1], ""); status != http.StatusOK || json.Unmarshal([]byte(body), &route) != nil ||
		strings.Join(route.Paths, ",") == "/payments/v2" {
		t.Errorf("route after the sync: %d %s", status, body)
	}
}

func readTokenFile(t *testing.T, path string) string {
	t.Helper()
	f := &syncFlags{tokenFile: path}
	tok, err := f.token()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// shell runs line with sh, as a user pasting it would, and fails the test
// unless it exits 0.
func shell(t *testing.T, line string) {
	t.Helper()
	name := strings.Fields(line)[0]
	if _, err := exec.LookPath(name); err != nil {
		t.Logf("%s is not installed; not running %q", name, line)
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", line).CombinedOutput()
	t.Logf("$ %s\n%s", line, out)
	if err != nil {
		t.Errorf("%s: %v\n%s", line, err, out)
	}
}

// curlForm sends what `curl -X METHOD URL -d DATA` sends: DATA as an
// application/x-www-form-urlencoded body.
func curlForm(t *testing.T, line string) {
	t.Helper()
	args := shellFields(t, line)
	var method, url, data string
	for i := 1; i < len(args); i++ {
		switch args[i] {
		case "-X":
			i++
			method = args[i]
		case "-d":
			i++
			data = args[i]
		default:
			url = args[i]
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s (as an HTTP request): %d %s", line, resp.StatusCode, b)
	}
}

// TestDevTakenAddress: `k3sync dev` on an address something else listens
// on fails at once, naming the address, before it starts any peer.
func TestDevTakenAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	var out bytes.Buffer
	err = runDev(t.Context(), &out, t.TempDir(), exampleRepo, ln.Addr().String(), devKafkaFake, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) {
		t.Fatalf("runDev on a taken address: %v, want a listen error naming it", err)
	}
	if out.Len() != 0 {
		t.Errorf("runDev started something before failing:\n%s", out.String())
	}
}

// startDev runs `k3sync dev` on repo with Kafka peer until the test
// ends, and returns what it printed up to the end of its banner. Its logs
// are shown when the test fails.
func startDev(t *testing.T, repo, kafkaPeer string) string {
	t.Helper()
	var out, logs syncbuf.Buffer
	log, err := newLoggerTo(&logs, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	// Port 0: dev binds it first and prints the port.
	go func() { done <- runDev(ctx, &out, dir, repo, "127.0.0.1:0", kafkaPeer, log) }()
	stopped := false
	t.Cleanup(func() {
		cancel()
		if !stopped {
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("k3sync dev: %v", err)
				}
			case <-time.After(time.Minute):
				t.Error("k3sync dev did not stop")
			}
		}
		if t.Failed() {
			t.Logf("k3sync dev logs:\n%s", logs.String())
		}
	})
	deadline := time.After(5 * time.Minute)
	for !strings.Contains(out.String(), "Press Ctrl-C to stop everything.") {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("k3sync dev stopped: %v\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("no banner after 5 minutes:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return out.String()
}

// TestDevBannerSaysWhatIsNotSynced: when a tenant cannot sync as dev
// starts (here payments' deny window is always active), the banner does
// not claim all is synced: it names the tenant and why.
func TestDevBannerSaysWhatIsNotSynced(t *testing.T) {
	clearPlanEnv(t)
	repo := fixture.ExampleDir(t)
	always := "package k3sync\n\npolicies: syncWindows: [{kind: \"deny\", schedule: \"* * * * *\", duration: \"1h\"}]\n"
	if err := os.WriteFile(filepath.Join(repo, "tenants/payments/window.cue"), []byte(always), 0o600); err != nil {
		t.Fatal(err)
	}
	banner := startDev(t, repo, devKafkaFake)
	if strings.Contains(banner, "k3sync dev is synced") || !regexp.MustCompile(`k3sync dev is up \([0-9.]+s\); not synced yet:\n  payments +out-of-sync: not applied: deny sync window "\* \* \* \* \*" \(1h\) is active\n\n`).MatchString(banner) {
		t.Errorf("with payments held by its deny window, the banner says:\n%s\nwant it to name payments and the window", banner)
	}
}
