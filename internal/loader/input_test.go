package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k3sync/k3sync/internal/model"
)

// okTenant is a valid tenant file of len(okTenant) = 38 bytes.
const okTenant = "package k3sync\n\nowners: [\"x@y.z\"]\n// \n"

// platformWith is the test platform with policy.input set to input.
func platformWith(t testing.TB, input string) []byte {
	t.Helper()
	b := testPlatform(t)
	if input != "" {
		b = append(b, "\npolicy: input: {"+input+"}\n"...)
	}
	return b
}

func TestDefaultInputLimits(t *testing.T) {
	fsys := fstest.MapFS{"platform.cue": {Data: platformWith(t, "")}}
	repo, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := model.InputLimits{
		MaxFileBytes: 256 << 10, MaxFilesPerTenant: 50, MaxEntriesPerTenant: 1000,
		MaxTenantBytes: 1 << 20, MaxRepoBytes: 64 << 20, EvalTimeout: "10s", MaxEvalMemory: 512 << 20,
	}
	if diff := cmp.Diff(want, repo.Platform.Policy.Input); diff != "" {
		t.Errorf("platform without policy.input (-want +got):\n%s", diff)
	}
	ev, err := newEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, defaultInputLimits(ev)); diff != "" {
		t.Errorf("limits for a broken platform (-want +got):\n%s", diff)
	}
	fsys["platform.cue"] = &fstest.MapFile{Data: platformWith(t, `maxFileBytes: 1Ki, evalTimeout: "1m30s", maxEvalMemory: 1Gi`)}
	repo, err = Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	got := repo.Platform.Policy.Input
	if d, err := got.EvalTimeoutDuration(); got.MaxFileBytes != 1024 || got.MaxEvalMemory != 1<<30 || err != nil || d != 90*time.Second {
		t.Errorf("platform's own limits: got %+v (timeout %v, %v)", got, d, err)
	}
}

func TestInputLimitsOfThePlatform(t *testing.T) {
	for _, tt := range []struct{ input, want string }{
		{`evalTimeout: "0s"`, `policy.input.evalTimeout: "0s" is not a positive duration`},
		{`evalTimeout: "soon"`, `policy.input.evalTimeout: invalid value "soon"`},
		{`maxEvalMemory: 1Mi`, `policy.input.maxEvalMemory: invalid value 1048576`},
		{`maxFileBytes: 0`, `policy.input.maxFileBytes: invalid value 0`},
	} {
		_, err := Load(fstest.MapFS{"platform.cue": {Data: platformWith(t, tt.input)}})
		if err == nil || !strings.HasPrefix(err.Error(), "platform.cue:34:") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want platform.cue:34:COL: %s", tt.input, err, tt.want)
		}
	}
}

// TestInputLimits breaks each limit in one tenant and checks the error
// names the file and the limit, and that the other tenants are still
// evaluated (their own errors are reported too).
func TestInputLimits(t *testing.T) {
	limits := `maxFileBytes: 100, maxFilesPerTenant: 3, maxEntriesPerTenant: 6, maxTenantBytes: 100, maxRepoBytes: 300`
	bad := "package k3sync\n\nowners: 1\n" // a schema error: proof the tenant was evaluated
	tests := []struct {
		name  string
		files fstest.MapFS
		want  []string
	}{{
		name:  "file too large",
		files: fstest.MapFS{"tenants/a/big.cue": {Data: make([]byte, 101)}},
		want:  []string{"tenants/a/big.cue:1:1: file is 101 bytes, the platform allows at most 100 per tenant file (policy.input.maxFileBytes)"},
	}, {
		name: "too many files",
		files: fstest.MapFS{
			"tenants/a/1.cue": {Data: []byte(okTenant)}, "tenants/a/2.cue": {}, "tenants/a/3.cue": {}, "tenants/a/4.cue": {},
		},
		want: []string{"tenants/a/4.cue:1:1: tenant a has 4 .cue files, the platform allows at most 3 per tenant (policy.input.maxFilesPerTenant)"},
	}, {
		name: "too many entries",
		files: fstest.MapFS{
			"tenants/a/t.cue": {Data: []byte(okTenant)}, "tenants/a/1.md": {}, "tenants/a/2.md": {}, "tenants/a/3.md": {},
			"tenants/a/4.md": {}, "tenants/a/5.md": {}, "tenants/a/sub/6.md": {},
		},
		want: []string{"tenants/a: the folder has more than 6 entries, the platform allows at most 6 per tenant folder (policy.input.maxEntriesPerTenant)"},
	}, {
		name: "tenant too large",
		files: fstest.MapFS{
			"tenants/a/1.cue": {Data: []byte(okTenant)}, "tenants/a/2.cue": {Data: make([]byte, 40)}, "tenants/a/3.cue": {Data: make([]byte, 40)},
		},
		want: []string{"tenants/a/3.cue:1:1: tenant a's .cue files are 118 bytes up to this one, the platform allows at most 100 per tenant (policy.input.maxTenantBytes)"},
	}, {
		// a, b and c fit, d spends the budget, other is not read at all.
		name: "repo too large",
		files: fstest.MapFS{
			"tenants/a/t.cue": {Data: []byte(okTenant + strings.Repeat("\n", 60))},
			"tenants/b/t.cue": {Data: []byte(okTenant + strings.Repeat("\n", 60))},
			"tenants/c/t.cue": {Data: []byte(bad)},
			"tenants/d/t.cue": {Data: []byte(okTenant + strings.Repeat("\n", 60))},
		},
		want: []string{
			"tenants/c/t.cue:3:9: owners: conflicting values 1 and [...(string & !=\"\")] (mismatched types int and list)",
			"tenants/d/t.cue:1:1: the tenant .cue files are 320 bytes up to this one, the platform allows at most 300 per repo (policy.input.maxRepoBytes); this tenant and the ones after it are not loaded",
		},
	}, {
		name:  "not a regular file",
		files: fstest.MapFS{"tenants/a/pipe.cue": {Mode: fs.ModeNamedPipe}},
		want:  []string{"tenants/a/pipe.cue:1:1: cannot read: not a regular file (p---------)"},
	}, {
		name:  "platform file too large",
		files: fstest.MapFS{"platform.cue": {Data: make([]byte, MaxPlatformFileBytes+1)}},
		want:  []string{"platform.cue:1:1: file is 4194305 bytes, the platform allows at most 4194304 for platform.cue", "tenants/other/t.cue:3:9: owners: conflicting values 1 and [...(string & !=\"\")] (mismatched types int and list)"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"platform.cue":        {Data: platformWith(t, limits)},
				"tenants/other/t.cue": {Data: []byte(bad)},
			}
			for name, f := range tt.files {
				fsys[name] = f
			}
			if !strings.Contains(tt.name, "platform") && !strings.Contains(tt.name, "repo") {
				tt.want = append(tt.want, "tenants/other/t.cue:3:9: owners: conflicting values 1 and [...(string & !=\"\")] (mismatched types int and list)")
			}
			_, err := Load(fsys)
			l, ok := Validation(err)
			if !ok {
				t.Fatalf("got %v, want validation errors", err)
			}
			var got []string
			for _, e := range l {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// lyingFS says every file is small and serves endless bytes, counting
// what it served.
type lyingFS struct {
	fstest.MapFS
	served atomic.Int64
}

func (l *lyingFS) Open(name string) (fs.File, error) {
	f, err := l.MapFS.Open(name)
	if err != nil || !strings.HasSuffix(name, "/lie.cue") {
		return f, err
	}
	return &endless{File: f, served: &l.served}, nil
}

type endless struct {
	fs.File
	served *atomic.Int64
}

func (e *endless) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = ' '
	}
	e.served.Add(int64(len(b)))
	return len(b), nil
}

func TestLyingFileSystemReadsNoMore(t *testing.T) {
	fsys := &lyingFS{MapFS: fstest.MapFS{
		"platform.cue":         {Data: platformWith(t, "")},
		"tenants/a/lie.cue":    {Data: []byte(okTenant)},
		"tenants/b/tenant.cue": {Data: []byte(okTenant)},
	}}
	_, err := Load(fsys)
	want := "tenants/a/lie.cue:1:1: cannot read: the file grew while it was read: more than the 38 bytes it had"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if n := fsys.served.Load(); n > int64(len(okTenant))+1 {
		t.Errorf("the loader read %d bytes of a file that said it had %d", n, len(okTenant))
	}
}

// hugeDirFS has a tenant folder with n entries, made as they are listed.
type hugeDirFS struct {
	fstest.MapFS
	n      int
	listed atomic.Int64
}

func (h *hugeDirFS) Open(name string) (fs.File, error) {
	if name != "tenants/noisy" {
		return h.MapFS.Open(name)
	}
	d, err := h.MapFS.Open("tenants/ok")
	if err != nil {
		return nil, err
	}
	return &hugeDir{File: d, fs: h}, nil
}

type hugeDir struct {
	fs.File
	fs  *hugeDirFS
	off int
}

func (d *hugeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		n = d.fs.n - d.off
	}
	n = min(n, d.fs.n-d.off)
	if n == 0 {
		return nil, io.EOF
	}
	out := make([]fs.DirEntry, n)
	for i := range out {
		out[i] = fs.FileInfoToDirEntry(fileInfo(fmt.Sprintf("noise-%06d.txt", d.off+i)))
	}
	d.off += n
	d.fs.listed.Add(int64(n))
	return out, nil
}

type fileInfo string

func (f fileInfo) Name() string     { return string(f) }
func (fileInfo) Size() int64        { return 0 }
func (fileInfo) Mode() fs.FileMode  { return 0o644 }
func (fileInfo) ModTime() time.Time { return time.Time{} }
func (fileInfo) IsDir() bool        { return false }
func (fileInfo) Sys() any           { return nil }

func TestHugeTenantFolderIsNotListedWhole(t *testing.T) {
	fsys := &hugeDirFS{n: 100_000, MapFS: fstest.MapFS{
		"platform.cue":        {Data: platformWith(t, "")},
		"tenants/ok/t.cue":    {Data: []byte(okTenant)},
		"tenants/noisy/x.txt": {}, // makes tenants/noisy a folder of the MapFS
		"tenants/other/t.cue": {Data: []byte(okTenant)},
	}}
	_, err := Load(fsys)
	want := "tenants/noisy: the folder has more than 1000 entries, the platform allows at most 1000 per tenant folder (policy.input.maxEntriesPerTenant)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if n := fsys.listed.Load(); n > 1001+listBatch {
		t.Errorf("listed %d entries of the folder to find more than 1000", n)
	}
}

// largeFile is a folder with a platform, a valid tenant and a tenant with
// a sparse file of size bytes.
func largeFile(tb testing.TB, size int64) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, data := range map[string][]byte{
		"platform.cue":          platformWith(tb, ""),
		"tenants/ok/tenant.cue": []byte(okTenant),
		"tenants/big/big.cue":   nil,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.Truncate(filepath.Join(dir, "tenants/big/big.cue"), size); err != nil {
		tb.Fatal(err)
	}
	return dir
}

const fiftyMB = 50 << 20

func TestLargeFileIsNotRead(t *testing.T) {
	fsys := os.DirFS(largeFile(t, fiftyMB))
	// What a load allocates besides reading files: the same repo with a
	// small file instead.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := LoadWith(t.Context(), fsys, Options{})
	runtime.ReadMemStats(&after)
	want := "tenants/big/big.cue:1:1: file is 52428800 bytes, the platform allows at most 262144 per tenant file (policy.input.maxFileBytes)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fiftyMB/2 {
		t.Errorf("rejecting a 50 MB file allocated %d bytes", alloc)
	}
}

// BenchmarkLoad50MBFile loads a repo whose one tenant has a 50 MB file
// (rejected before reading) next to a valid tenant, and reports the peak
// heap seen while it runs.
func BenchmarkLoad50MBFile(b *testing.B) {
	fsys := os.DirFS(largeFile(b, fiftyMB))
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(sample)
				if v := sample[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadWith(b.Context(), fsys, Options{}); err == nil {
			b.Fatal("loaded a 50 MB tenant file")
		}
	}
	close(done)
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}

func TestCancelledLoad(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := LoadWith(ctx, os.DirFS(exampleRepo), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want the context's error", err)
	}
	if _, ok := Validation(err); ok {
		t.Error("a cancelled load reads as validation errors")
	}
}

// TestLinkToAnotherTenant: a tenant file that links into another tenant's
// folder is refused (that tenant could change it without this folder
// changing); a link to a file beside it is read.
func TestLinkToAnotherTenant(t *testing.T) {
	platform := testPlatform(t)
	fsys := fstest.MapFS{
		"platform.cue":         {Data: platform},
		"tenants/b/tenant.cue": {Data: []byte("package k3sync\nowners: [\"b@example.com\"]\n")},
		"tenants/a/owners.txt": {Data: []byte("package k3sync\nowners: [\"a@example.com\"]\n")},
		"tenants/a/owners.cue": {Data: []byte("owners.txt"), Mode: fs.ModeSymlink},
		"tenants/c/tenant.cue": {Data: []byte("../b/tenant.cue"), Mode: fs.ModeSymlink},
		"tenants/d/tenant.cue": {Data: []byte("hop.cue"), Mode: fs.ModeSymlink},
		"tenants/d/hop.cue":    {Data: []byte("../b/tenant.cue"), Mode: fs.ModeSymlink},
	}
	_, err := Load(fsys)
	l, ok := Validation(err)
	if !ok {
		t.Fatalf("got %v, want validation errors", err)
	}
	var got []string
	for _, e := range l {
		got = append(got, e.Error())
	}
	want := []string{
		`tenants/c/tenant.cue:1:1: link to "../b/tenant.cue" leaves the tenant's folder: a tenant's files may link only to files beside them in its own folder`,
		`tenants/d/hop.cue:1:1: link to "../b/tenant.cue" leaves the tenant's folder: a tenant's files may link only to files beside them in its own folder`,
		`tenants/d/tenant.cue:1:1: link to "../b/tenant.cue" leaves the tenant's folder: a tenant's files may link only to files beside them in its own folder`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
