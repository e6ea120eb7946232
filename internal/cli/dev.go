package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/yaml"

	"github.com/k3sync/k3sync/internal/config"
	"github.com/k3sync/k3sync/internal/kongemu"
	"github.com/k3sync/k3sync/internal/server"
	kafkaenv "github.com/k3sync/k3sync/internal/testenv/kafka"
	"github.com/k3sync/k3sync/internal/testenv/kube"
	"github.com/k3sync/k3sync/internal/untrusted"
	"github.com/k3sync/k3sync/internal/view"
)

func newDev() *cobra.Command {
	var dir, repoDir, listen, logLevel, kafkaPeer string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole stack locally: two clusters, Kafka, Kong, a Git repo and k3sync serve",
		Long: `Start everything k3sync needs on this machine, in the spirit of
'vault server -dev': two Kubernetes control planes (kube-apiserver + etcd,
from 'make kube-bins'), Kafka (in-process kfake by default; with --kafka broker
three real Apache Kafka 4.4 nodes from 'make kafka-bin'), the Kong Admin API
emulator, a Git repo holding the example platform repo, and k3sync serve
against all of it. Prints where the API is, the tokens, and how to make
drift happen. Stops everything on Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger("text", logLevel)
			if err != nil {
				return err
			}
			switch kafkaPeer {
			case devKafkaFake, devKafkaBroker:
			default:
				return fmt.Errorf("--kafka %q: want %s or %s", kafkaPeer, devKafkaFake, devKafkaBroker)
			}
			return runDev(cmd.Context(), cmd.OutOrStdout(), dir, repoDir, listen, kafkaPeer, log)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "working folder for the repo, config, tokens and state (default: a new temporary folder)")
	cmd.Flags().StringVar(&repoDir, "repo", "examples/platform-repo", "platform repo to start from")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address of the API and dashboard (port 0: a free one, printed in the banner)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level")
	cmd.Flags().StringVar(&kafkaPeer, "kafka", devKafkaFake, "Kafka to run: kfake (in process, starts at once) or broker (three real Apache Kafka nodes; needs 'make kafka-bin' and Java 17)")
	return cmd
}

// The Kafka peers of k3sync dev.
const (
	devKafkaFake   = "kfake"
	devKafkaBroker = "broker"
)

func runDev(ctx context.Context, out io.Writer, dir, repoDir, listen, kafkaPeer string, log *slog.Logger) error {
	start := time.Now()
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "k3sync-dev-"); err != nil {
			return fmt.Errorf("dev: %w", err)
		}
	}
	dir, _ = filepath.Abs(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	// The API's address first: a taken one fails now, not after a minute
	// of starting peers, and nothing else takes it meanwhile.
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("dev: listen on %s: %w", listen, err)
	}
	defer func() { _ = ln.Close() }() // served and closed by the server, unless it never starts
	listen = ln.Addr().String()       // a port 0 becomes the one bound
	fmt.Fprintf(out, "k3sync dev: starting two clusters, Kafka, Kong and a Git repo in %s …\n", dir)

	// Peers.
	var planes [2]*kube.ControlPlane
	g, gctx := errgroup.WithContext(ctx)
	for i, name := range []string{"eu-west", "us-east"} {
		g.Go(func() error {
			cp, err := kube.Start(gctx, kube.Options{Name: name, ControllerManager: true})
			planes[i] = cp
			return err //nolint:wrapcheck // says which binary is missing
		})
	}
	err = g.Wait()
	defer func() {
		for _, cp := range planes {
			if cp != nil {
				_ = cp.Stop()
			}
		}
	}()
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	kafkaCfg, kcatAddr, stopKafka, err := devKafka(ctx, out, dir, kafkaPeer)
	if err != nil {
		return err
	}
	defer stopKafka()
	kongURL, err := kongemu.New(kongemu.Options{}).Start(ctx)
	if err != nil {
		return fmt.Errorf("dev: kong: %w", err)
	}
	gitURL, work, err := devRepo(ctx, dir, repoDir)
	if err != nil {
		return err
	}

	// Tokens and config.
	operator, viewer := randomToken(), randomToken()
	for name, tok := range map[string]string{"operator.token": operator, "viewer.token": viewer} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(tok+"\n"), 0o600); err != nil {
			return fmt.Errorf("dev: %w", err)
		}
	}
	cfg := &config.Config{
		Clusters: map[string]config.Cluster{
			"eu-west": {Kubeconfig: planes[0].KubeconfigPath(), QPS: 200, Burst: 400},
			"us-east": {Kubeconfig: planes[1].KubeconfigPath(), QPS: 200, Burst: 400},
		},
		Kafka:    map[string]config.Kafka{"main": kafkaCfg},
		Gateways: map[string]config.Gateway{"edge": {AdminURL: kongURL}},
		State:    config.State{Path: filepath.Join(dir, "state.db")},
		Git:      config.Git{URL: gitURL, Branch: "main", Interval: config.Duration{Duration: 5 * time.Second}, Dir: filepath.Join(dir, "clone.git")},
		Server: config.Server{Listen: listen, Tokens: []config.Token{
			{Name: "demo-operator", Role: "operator", Secret: config.Secret{TokenFile: filepath.Join(dir, "operator.token")}},
			{Name: "demo-viewer", Role: "viewer", Secret: config.Secret{TokenFile: filepath.Join(dir, "viewer.token")}},
		}},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	cfgPath := filepath.Join(dir, "k3sync.yaml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return fmt.Errorf("dev: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, []server.Option{server.WithListener(ln)}) }()
	if err := waitReady(ctx, "http://"+listen+"/readyz", done); err != nil {
		return err
	}
	status := devStatus(ctx, &server.Client{URL: "http://" + listen, Token: operator, HTTP: &http.Client{Timeout: 30 * time.Second}}, time.Since(start))
	operatorFile, viewerFile := shellWord(filepath.Join(dir, "operator.token")), shellWord(filepath.Join(dir, "viewer.token"))
	_, _ = fmt.Fprintf(out, devBanner, status, listen, operatorFile, listen,
		listen, operatorFile, listen, viewerFile,
		shellWord(cfgPath), shellWord(work), shellWord(planes[0].KubeconfigPath()), kcatAddr, kongURL, listen)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return <-done
	}
}

// devKafka starts the Kafka of k3sync dev: kfake, or with peer "broker"
// three real Kafka nodes (the example's topics have three replicas), with
// k3sync logging in as the admin over SASL/SCRAM and kcat reaching the
// plaintext listener. It returns k3sync's connection, the address the
// banner gives kcat, and how to stop it.
func devKafka(ctx context.Context, out io.Writer, dir, peer string) (config.Kafka, string, func(), error) {
	if peer != devKafkaBroker {
		kc, err := kfake.NewCluster(kfake.NumBrokers(3))
		if err != nil {
			return config.Kafka{}, "", nil, fmt.Errorf("dev: kafka: %w", err)
		}
		return config.Kafka{Brokers: kc.ListenAddrs()}, kc.ListenAddrs()[0], kc.Close, nil
	}
	fmt.Fprintln(out, "k3sync dev: starting three Apache Kafka nodes (about 20 s) …")
	kc, err := kafkaenv.Start(ctx, kafkaenv.Options{Brokers: 3, Plaintext: true})
	if err != nil {
		return config.Kafka{}, "", nil, fmt.Errorf("dev: kafka: %w", err)
	}
	user, password := kc.AdminUser()
	passwordFile := filepath.Join(dir, "kafka-admin.password")
	if err := os.WriteFile(passwordFile, []byte(password+"\n"), 0o600); err != nil {
		_ = kc.Stop()
		return config.Kafka{}, "", nil, fmt.Errorf("dev: %w", err)
	}
	cfg := config.Kafka{Brokers: kc.Bootstrap(), SASL: &config.SASL{
		Mechanism: kc.Mechanism(), Username: user, Secret: config.Secret{PasswordFile: passwordFile},
	}}
	return cfg, kc.PlaintextBootstrap()[0], func() { _ = kc.Stop() }, nil
}

// devBanner says where everything is. Each command in it runs as printed
// (dev_test.go runs every one): paths are shell-quoted when they need it.
const devBanner = `
%s

  Dashboard  http://%s/   (sign in with the token in %s)
  API        http://%s/api/v1/overview   (Authorization: Bearer <same token>)
  sync now   k3sync sync --server http://%s --token-file %s --tenant payments
  plan       k3sync plan --server http://%s --token-file %s
             (analytics is suspended in the example: its changes stay planned, exit code 2)
  config     %s   (the daemon holds its state: plan and sync through it, as above)
  Git        edit and push from %s

Make drift happen, then watch the next drift check (every 5 minutes) or sync:
  kubectl --kubeconfig %s -n payments patch resourcequota tenant-quota \
      --type merge -p '{"spec":{"hard":{"requests.cpu":"1"}}}'
  kcat -b %s -L
  curl -X PATCH %s/routes/payments-public -d 'paths[]=/payments/v2'

Press Ctrl-C to stop everything. (API at http://%s)
`

// devStatus is the banner's first line: synced, or which tenants are not
// and why (a sync window of the example may be active as dev starts).
// The suspended analytics tenant is meant to be; the banner says so.
func devStatus(ctx context.Context, c *server.Client, took time.Duration) string {
	took = took.Round(100 * time.Millisecond)
	o, err := c.Overview(ctx)
	if err != nil {
		return fmt.Sprintf("k3sync dev is up (%s), but its overview is not: %s", took, untrusted.Visible(err.Error()))
	}
	var b strings.Builder
	for _, t := range o.Tenants {
		if t.State == view.Synced || t.State == view.Suspended {
			continue
		}
		fmt.Fprintf(&b, "\n  %-10s %s", untrusted.Visible(t.Name), t.State)
		if t.Note != "" {
			fmt.Fprintf(&b, ": %s", untrusted.Visible(t.Note))
		}
	}
	if b.Len() == 0 {
		return fmt.Sprintf("k3sync dev is synced (%s).", took)
	}
	return fmt.Sprintf("k3sync dev is up (%s); not synced yet:%s", took, b.String())
}

// shellWord quotes s for a POSIX shell when it holds anything but
// letters, digits and /._-:+=@,
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:+=@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// devRepo makes a bare repo with the example committed, and a working
// clone the user can push from.
func devRepo(ctx context.Context, dir, repoDir string) (url, work string, err error) {
	bare := filepath.Join(dir, "platform.git")
	work = filepath.Join(dir, "platform")
	if _, err := os.Stat(bare); err == nil {
		return "file://" + bare, work, nil // reuse the folder of an earlier run
	}
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "user.name=k3sync demo", "-c", "user.email=demo@k3sync.invalid", "-c", "init.defaultBranch=main"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("dev: git %v: %w\n%s", args, err, out)
		}
		return nil
	}
	if err := git("init", "--bare", "-q", bare); err != nil {
		return "", "", err
	}
	if err := os.CopyFS(work, os.DirFS(repoDir)); err != nil {
		return "", "", fmt.Errorf("dev: copy %s: %w", repoDir, err)
	}
	for _, args := range [][]string{
		{"-C", work, "init", "-q"},
		{"-C", work, "add", "-A"},
		{"-C", work, "commit", "-q", "-m", "Import the example platform repo"},
		{"-C", work, "remote", "add", "origin", bare},
		{"-C", work, "push", "-q", "origin", "HEAD:main"},
	} {
		if err := git(args...); err != nil {
			return "", "", err
		}
	}
	return "file://" + bare, work, nil
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// waitReady polls url until it answers 200 or the server stops.
func waitReady(ctx context.Context, url string, done <-chan error) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err == nil {
				err = errors.New("stopped before it was ready")
			}
			return fmt.Errorf("dev: k3sync serve: %w", err)
		case <-ctx.Done():
			return ctx.Err() //nolint:wrapcheck // cancelled
		case <-tick.C:
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return fmt.Errorf("dev: %w", err)
			}
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
	}
}
