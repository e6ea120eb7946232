package loader

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"

	"github.com/k3sync/k3sync/internal/model"
)

var update = flag.Bool("update", false, "rewrite want.errors in testdata/invalid")

const exampleRepo = "../../examples/platform-repo"

func TestLoadExample(t *testing.T) {
	repo, err := Load(os.DirFS(exampleRepo))
	if err != nil {
		t.Fatalf("load example repo:\n%v", err)
	}
	var names []string
	for _, tn := range repo.Tenants {
		names = append(names, tn.Name)
	}
	if diff := cmp.Diff([]string{"analytics", "checkout", "payments", "search"}, names); diff != "" {
		t.Errorf("tenants (-want +got):\n%s", diff)
	}
	p := repo.Tenant("payments")
	if p == nil {
		t.Fatal("no tenant payments")
	}
	// Values the user wrote as CUE numbers arrive in Kafka's string form.
	if got := p.Kafka.Topics["payments.transactions"].Configs["retention.ms"]; got != "604800000" {
		t.Errorf("retention.ms: got %q", got)
	}
	// Defaults from the schema are filled in.
	if got := p.Kubernetes.Namespaces["payments"].Deletion; got != "" {
		t.Errorf("namespace deletion: got %q, want unset (protected by default)", got)
	}
	if p.Kubernetes.Namespaces["payments-batch"].Deletion != model.Allow {
		t.Error("payments-batch: deletion allow lost")
	}
	if got := repo.Tenant("search").DriftPolicy(&repo.Platform); got != model.DriftReport {
		t.Errorf("search drift policy: got %q, want the platform default", got)
	}
	if got := repo.Platform.Kafka["main"].Limits.MaxReplicationFactor; got != 3 {
		t.Errorf("max replication factor: got %d, want the broker count", got)
	}
	if diff := cmp.Diff([]string{"tenants/payments/tenant.cue"}, p.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

// TestInvalidRepos loads each testdata/invalid/*.txtar repo and compares
// every error with want.errors.
func TestInvalidRepos(t *testing.T) {
	platform := testPlatform(t)
	files, err := filepath.Glob("testdata/invalid/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test repos: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fsys := fstest.MapFS{"platform.cue": {Data: platform}}
			want := ""
			for _, f := range ar.Files {
				switch f.Name {
				case "want.errors":
					want = string(f.Data)
				case ".no-platform":
					delete(fsys, "platform.cue")
				default:
					fsys[f.Name] = &fstest.MapFile{Data: f.Data}
				}
			}
			_, err = Load(fsys)
			if err == nil {
				t.Fatal("repo loaded without error")
			}
			l, ok := Validation(err)
			if !ok {
				t.Fatalf("error is not a validation list: %v", err)
			}
			got := l.Error() + "\n"
			if *update {
				for i := range ar.Files {
					if ar.Files[i].Name == "want.errors" {
						ar.Files[i].Data = []byte(got)
					}
				}
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			for _, e := range l {
				if e.File == "" || (e.Line == 0 && !strings.HasPrefix(e.Message, "missing")) {
					t.Errorf("error without a position: %v", e)
				}
			}
		})
	}
}

// testPlatform is testdata/platform.cue.
func testPlatform(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/platform.cue")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
