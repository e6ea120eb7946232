package deploytest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line  int
	cmd   string // upper case
	flags []string
	args  string
}

// stage is a FROM and what follows it.
type stage struct {
	image, name string
	instrs      []instruction
}

// parseDockerfile splits a Dockerfile into stages. Comments (parser
// directives included) and blank lines are dropped.
func parseDockerfile(src string) []stage {
	var stages []stage
	var cur *instruction
	flush := func() {
		if cur == nil {
			return
		}
		in := *cur
		cur = nil
		fields := strings.Fields(in.args)
		for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
			in.flags = append(in.flags, fields[0])
			fields = fields[1:]
		}
		in.args = strings.Join(fields, " ")
		if in.cmd == "FROM" {
			s := stage{}
			if len(fields) > 0 {
				s.image = fields[0]
			}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			stages = append(stages, s)
		}
		if len(stages) > 0 {
			stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		}
	}
	for i, raw := range strings.Split(src, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cont := strings.HasSuffix(line, "\\")
		line = strings.TrimSpace(strings.TrimSuffix(line, "\\"))
		if cur == nil {
			cmd, rest, _ := strings.Cut(line, " ")
			cur = &instruction{line: i + 1, cmd: strings.ToUpper(cmd), args: rest}
		} else {
			cur.args += " " + line
		}
		if !cont {
			flush()
		}
	}
	flush()
	return stages
}

var goDirective = regexp.MustCompile(`(?m)^go (\S+)\s*$`)

// lintDockerfile lists what is wrong with a Dockerfile for k3sync: a
// multi-stage build, CGO off, -trimpath, a golang builder pinned to
// goVersion, a distroless or scratch final stage running as a numeric
// non-root user, and no ADD of remote sources.
func lintDockerfile(src, goVersion string) []string {
	stages := parseDockerfile(src)
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(stages) < 2 {
		add("single stage: build in one stage and copy the binary into a minimal final stage")
	}
	names := map[string]bool{}
	builders := 0
	for _, s := range stages {
		image := s.image
		if !names[image] {
			if repo, tag, ok := strings.Cut(image, ":"); repo == "golang" || repo == "docker.io/library/golang" {
				builders++
				if !ok || tag != goVersion && !strings.HasPrefix(tag, goVersion+"-") {
					add("FROM %s: pin the builder to go.mod's go %s (golang:%s or golang:%s-<variant>)", image, goVersion, goVersion, goVersion)
				}
			}
		}
		if s.name != "" {
			names[s.name] = true
		}
		env := map[string]string{}
		for _, in := range s.instrs {
			switch in.cmd {
			case "ENV":
				for _, kv := range strings.Fields(in.args) {
					if k, v, ok := strings.Cut(kv, "="); ok {
						env[k] = v
					}
				}
			case "ADD":
				for _, src := range strings.Fields(in.args) {
					if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
						add("line %d: ADD %s: fetch remote sources in a RUN with a checksum, or COPY them", in.line, src)
					}
				}
			case "RUN":
				if !strings.Contains(in.args, "go build") {
					continue
				}
				if !strings.Contains(in.args, "CGO_ENABLED=0") && env["CGO_ENABLED"] != "0" {
					add("line %d: go build without CGO_ENABLED=0: the binary must be static for distroless/static", in.line)
				}
				if !strings.Contains(in.args, "-trimpath") {
					add("line %d: go build without -trimpath", in.line)
				}
			}
		}
	}
	if len(stages) > 0 && builders == 0 {
		add("no golang builder stage")
	}
	if len(stages) == 0 {
		return append(problems, "no FROM")
	}
	final := stages[len(stages)-1]
	if final.image != "scratch" && !strings.HasPrefix(final.image, "gcr.io/distroless/") {
		add("final stage FROM %s: want gcr.io/distroless/... or scratch", final.image)
	}
	user := ""
	for _, in := range final.instrs {
		if in.cmd == "USER" {
			user = in.args
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	switch {
	case user == "":
		add("final stage has no USER: it would run as root")
	case uid == "root" || uid == "0":
		add("USER %s: run as a non-root user", user)
	case strings.Trim(uid, "0123456789") != "":
		add("USER %s: use a numeric UID, so that runAsNonRoot can check it", user)
	}
	return problems
}

func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := goDirective.FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// TestDockerfile lints the repository's Dockerfile and checks that it
// starts what the manifests expect.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	if problems := lintDockerfile(src, goModVersion(t)); len(problems) > 0 {
		t.Errorf("Dockerfile:\n  %s", strings.Join(problems, "\n  "))
	}
	stages := parseDockerfile(src)
	final := stages[len(stages)-1]
	got := map[string]string{}
	for _, in := range final.instrs {
		got[in.cmd] = in.args
	}
	want := map[string]string{
		"USER":       "65532:65532", // the pods' runAsUser and runAsGroup
		"ENTRYPOINT": `["/k3sync"]`,
		"CMD":        `["serve", "--config", "/etc/k3sync/k3sync.yaml"]`, // the ConfigMap's mount and key
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("final stage %s %s, want %s", k, got[k], v)
		}
	}
	if !strings.Contains(src, "-X github.com/k3sync/k3sync/internal/version.Version=") {
		t.Error("go build does not set internal/version.Version")
	}
}

// TestDockerfileLint runs the linter on broken Dockerfiles
// and a good one (testdata/dockerfile-lint.txtar: NAME.Dockerfile and
// NAME.want, one expected problem per line, empty for none) so that a check
// that stops firing, or fires on a good file, is caught.
func TestDockerfileLint(t *testing.T) {
	ar, err := txtar.ParseFile("testdata/dockerfile-lint.txtar")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range ar.Files {
		files[f.Name] = string(f.Data)
	}
	n := 0
	for name, src := range files {
		base, ok := strings.CutSuffix(name, ".Dockerfile")
		if !ok {
			continue
		}
		n++
		t.Run(base, func(t *testing.T) {
			want, ok := files[base+".want"]
			if !ok {
				t.Fatalf("%s.want is missing", base)
			}
			got := lintDockerfile(src, "1.26.8")
			var wantLines []string
			if w := strings.TrimSpace(want); w != "" {
				wantLines = strings.Split(w, "\n")
			}
			if diff := cmp.Diff(wantLines, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
	if n == 0 {
		t.Fatal("no Dockerfiles in testdata/dockerfile-lint.txtar")
	}
}
