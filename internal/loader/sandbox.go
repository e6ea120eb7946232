package loader

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/model"
)

// Sandbox evaluates a repo in a child process whose time and memory are
// bounded, so that a hostile tenant folder (a CUE expression that builds a
// huge string, loops for minutes or crashes the evaluator) costs one
// validation error naming its files instead of the daemon that serves every
// other tenant. CUE's evaluator cannot be interrupted or bounded in
// process; a process can.
//
// The parent reads the repo (the platform file is trusted and evaluated in
// the parent to learn policy.input; tenant files are read within its
// limits) and sends a snapshot of exactly those bytes to the child, which
// runs the whole loader (evaluation and policy checks) on it and answers
// with the model or the errors. The child reports each tenant it starts and
// finishes; a tenant evaluated longer than policy.input.evalTimeout has its
// child killed, and a child that exceeds its memory limit or crashes is
// blamed on the tenants it was evaluating at the time (each of them is
// evaluated alone again to find the culprit). The culprits' folders get an
// error and are left out; the rest is evaluated again, so every other
// error is still reported.
type Sandbox struct {
	// Executable is the program started as the child, with ChildEnv set.
	// It must call ChildMain before anything else: k3sync's main does, and
	// so do the TestMain functions of packages that test with a sandbox.
	Executable string
}

// ChildEnv marks a process started as a sandbox child.
const ChildEnv = "K3SYNC_LOADER_CHILD"

// NewSandbox returns a sandbox that starts the running executable.
func NewSandbox() (*Sandbox, error) {
	if os.Getenv(ChildEnv) == "1" {
		// A child that did not serve (its main forgot ChildMain) must
		// not start children of its own.
		return nil, errors.New("evaluation sandbox: this process was started as a sandbox child but did not call loader.ChildMain")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("evaluation sandbox: %w", err)
	}
	return &Sandbox{Executable: exe}, nil
}

// ChildMain serves one evaluation and exits when the process was started as
// a sandbox child; otherwise it returns at once.
func ChildMain() {
	if os.Getenv(ChildEnv) != "1" {
		return
	}
	progress := os.NewFile(3, "progress")
	os.Exit(serveChild(os.Stdin, os.Stdout, progress))
}

// Exit codes of the child.
const (
	childOK = 0
	// childOverMemory: the watchdog saw the heap above the limit.
	childOverMemory = 3
	// childBadRequest: the request could not be decoded (a k3sync bug).
	childBadRequest = 4
)

// maxTenantModel bounds one evaluated tenant, as JSON: what a tenant
// evaluates to is held by the daemon, planned and rendered, so a folder
// that evaluates to megabytes of strings is refused even when it was
// evaluated within the memory limit.
const maxTenantModel = 4 << 20

// maxMessage bounds one error message from the child (CUE quotes values
// in its messages).
const maxMessage = 2 << 10

// childRequest is what the parent sends on the child's standard input.
type childRequest struct {
	Files   []snapFile
	Options Options
	// MemoryLimit is the heap the child may use, in bytes.
	MemoryLimit int64
	// Cached says the parent keeps evaluations (ADR 0008): the child
	// answers with the ones it made (childResponse.Units). Reuse are the
	// tenant folders the parent's cache has evaluated already: the child
	// uses their models and diagnostics as they are and runs only the
	// policy checks on them.
	Cached bool
	Reuse  []reusedUnit
}

// reusedUnit is a tenant folder's kept evaluation, sent to the child.
type reusedUnit struct {
	Dir string
	// Model is the tenant's JSON, nil when the folder did not evaluate.
	Model []byte
	Errs  diag.List
}

// childUnit is a tenant folder the child evaluated, for the parent's cache.
type childUnit struct {
	Dir   string          `json:"dir"`
	Model json.RawMessage `json:"model,omitempty"`
	Errs  diag.List       `json:"errs"`
}

// childResponse is what the child writes on its standard output.
type childResponse struct {
	Platform model.Platform  `json:"platform"`
	Tenants  []*model.Tenant `json:"tenants"`
	// Dirs and Files are the tenants' Dir and Files, which model.Tenant
	// does not marshal.
	Dirs   []string   `json:"dirs"`
	Files  [][]string `json:"files"`
	Errors diag.List  `json:"errors"`
	// Units are the tenant folders the child evaluated (not those it
	// reused), each with its own diagnostics, for the parent's cache.
	Units []childUnit `json:"units,omitempty"`
}

// serveChild evaluates the request read from in and writes the response to
// out, reporting each tenant started and finished on progress.
func serveChild(in io.Reader, out io.Writer, progress *os.File) int {
	var req childRequest
	if err := gob.NewDecoder(in).Decode(&req); err != nil {
		fmt.Fprintf(os.Stderr, "k3sync evaluation sandbox: read request: %v\n", err)
		return childBadRequest
	}
	stopWatch := watchMemory(req.MemoryLimit, progress)
	defer stopWatch()
	var mu sync.Mutex
	report := func(kind byte, dir string) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = fmt.Fprintf(progress, "%c %s\n", kind, strconv.Quote(dir))
	}
	l := &loader{fsys: newSnapFS(req.Files), opts: req.Options, tenants: map[string]*unit{}}
	l.progress = func(dir string, done bool) {
		if done {
			report('E', dir)
		} else {
			report('B', dir)
		}
	}
	reuse := map[string]*reusedUnit{}
	for i := range req.Reuse {
		reuse[req.Reuse[i].Dir] = &req.Reuse[i]
	}
	reused := map[string]bool{}
	evaluated := map[string]diag.List{}
	if req.Cached {
		l.reuse = func(u *unit) *cacheEntry {
			r := reuse[u.dir]
			if r == nil {
				return nil
			}
			e := &cacheEntry{errs: r.Errs}
			if r.Model != nil {
				t, err := decodeTenant(r.Model)
				if err != nil {
					return nil // evaluate it instead
				}
				t.Dir, t.Files = u.dir, u.files
				e.tenant = t
			}
			mu.Lock()
			defer mu.Unlock()
			reused[u.dir] = true
			return e
		}
		l.kept = func(u *unit, _ *model.Tenant) {
			mu.Lock()
			defer mu.Unlock()
			evaluated[u.dir] = slices.Clone(u.errs)
		}
	}
	repo := l.load()
	resp := childResponse{Errors: l.errs}
	models := map[string]json.RawMessage{}
	if repo != nil {
		resp.Platform = repo.Platform
		for _, t := range repo.Tenants {
			if !reused[t.Dir] {
				// A reused tenant was within the bound when it was kept.
				b, err := json.Marshal(t)
				if err == nil && len(b) > maxTenantModel {
					resp.Errors.Add(diag.Error{File: t.Files[0], Line: 1, Column: 1, Message: fmt.Sprintf(
						"tenant %s evaluates to %d bytes of definitions, more than the %d k3sync holds per tenant", t.Name, len(b), maxTenantModel)})
					delete(evaluated, t.Dir) // not kept: evaluated again next time
					continue
				}
				if err == nil {
					models[t.Dir] = b
				} else {
					delete(evaluated, t.Dir)
				}
			}
			resp.Tenants = append(resp.Tenants, t)
			resp.Dirs = append(resp.Dirs, t.Dir)
			resp.Files = append(resp.Files, t.Files)
		}
		for _, dir := range sortedKeys(evaluated) {
			cutMessages(evaluated[dir])
			resp.Units = append(resp.Units, childUnit{Dir: dir, Model: models[dir], Errs: evaluated[dir]})
		}
	}
	cutMessages(resp.Errors)
	if err := json.NewEncoder(out).Encode(resp); err != nil {
		fmt.Fprintf(os.Stderr, "k3sync evaluation sandbox: write response: %v\n", err)
		return childBadRequest
	}
	return childOK
}

// cutMessages cuts each message of errs longer than maxMessage, in place.
// A cut message stays as it is when cut again.
func cutMessages(errs diag.List) {
	for i := range errs {
		if m := errs[i].Message; len(m) > maxMessage {
			errs[i].Message = m[:maxMessage] + "… (cut)"
		}
	}
}

// decodeTenant decodes a tenant's JSON as the parent decodes the child's
// answer: CUE's integers stay integers.
func decodeTenant(b []byte) (*model.Tenant, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var t model.Tenant
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("decode tenant: %w", err)
	}
	t.EachPlugin(func(p *model.KongPlugin) { p.Config = numbers(p.Config).(map[string]any) })
	return &t, nil
}

// load evaluates the repo in fsys in child processes.
func (s *Sandbox) load(ctx context.Context, fsys fs.FS, opts Options) (*model.Repo, error) {
	snap, limits, readErrs, err := snapshot(fsys, opts)
	if err != nil {
		return nil, err
	}
	cache := snap.useCache(opts, limits)
	opts.Sandbox, opts.Cache = nil, nil
	culprits := readErrs
	for blamedSoFar := 0; ; {
		resp, fail, err := s.run(ctx, snap, opts, limits, cache)
		if err != nil {
			return nil, err
		}
		if fail == nil {
			cache.keep(resp)
			return s.result(resp, culprits)
		}
		// Find which of the tenants in flight is to blame: each alone.
		blamed := fail.blame(ctx, s, snap, opts, limits)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("evaluation sandbox: %w", err)
		}
		if len(blamed) == 0 {
			// Nobody in flight, or none fails alone: the repo as a whole
			// is to blame (the platform file, or the policy checks).
			return nil, diag.List{{File: PlatformFile, Message: fail.reason(limits)}}
		}
		for _, f := range blamed {
			culprits.Add(diag.Error{File: snap.firstFile(f.dir), Line: 1, Column: 1, Message: fmt.Sprintf(
				"tenant folder %s: %s; its files were not evaluated further", f.dir, f.reason(limits))})
			snap = snap.without(f.dir)
		}
		// Each culprit costs up to evalTimeout and another evaluation of
		// the rest: a revision or pull request full of them must not hold
		// the daemon for long.
		if blamedSoFar += len(blamed); blamedSoFar >= maxCulprits {
			culprits.Add(diag.Error{File: TenantsDir, Message: fmt.Sprintf(
				"evaluation stopped: %d tenant folders exceeded the evaluation limits (policy.input); the other folders were not evaluated", blamedSoFar)})
			return nil, culprits.Sorted()
		}
	}
}

// maxCulprits is how many tenant folders may exceed the evaluation limits
// before the sandbox stops evaluating a repo.
const maxCulprits = 3

// result turns a child's response into the loader's result.
func (s *Sandbox) result(resp *childResponse, culprits diag.List) (*model.Repo, error) {
	errs := append(slices.Clip(resp.Errors), culprits...)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	repo := &model.Repo{Platform: resp.Platform, Tenants: resp.Tenants}
	for i, t := range repo.Tenants {
		t.Dir = resp.Dirs[i]
		t.Files = resp.Files[i]
	}
	return repo, nil
}

// childFailure is a child that did not answer: killed after a timeout, over
// its memory limit, or crashed.
type childFailure struct {
	kind failureKind
	// dir is the tenant folder blamed, once known.
	dir string
	// inFlight are the tenant folders being evaluated at the time.
	inFlight []string
	// detail is what the child said on stderr, for crashes.
	detail string
}

type failureKind int

const (
	failTimeout failureKind = iota
	failMemory
	failCrash
)

func (f *childFailure) reason(limits model.InputLimits) string {
	switch f.kind {
	case failTimeout:
		return fmt.Sprintf("evaluation took longer than %s (policy.input.evalTimeout)", limits.EvalTimeout)
	case failMemory:
		return fmt.Sprintf("evaluation used more than %d MiB of memory (policy.input.maxEvalMemory)", limits.MaxEvalMemory>>20)
	case failCrash:
	}
	return "the CUE evaluator crashed: " + f.detail
}

// blame evaluates each tenant in flight alone and returns the failures of
// those that fail alone. A tenant killed for its own timeout is blamed
// directly.
func (f *childFailure) blame(ctx context.Context, s *Sandbox, snap *snapshotFS, opts Options, limits model.InputLimits) []*childFailure {
	if f.kind == failTimeout && f.dir != "" {
		return []*childFailure{f}
	}
	if len(f.inFlight) == 1 {
		f.dir = f.inFlight[0]
		return []*childFailure{f}
	}
	var out []*childFailure
	for _, dir := range f.inFlight {
		_, alone, err := s.run(ctx, snap.only(dir), opts, limits, nil)
		if err != nil || alone == nil {
			continue
		}
		alone.dir = dir
		out = append(out, alone)
	}
	return out
}

// run starts one child on snap. A child that fails is a childFailure; err
// is for what is not the repo's fault (the context ended, the child could
// not start, its answer could not be read).
func (s *Sandbox) run(ctx context.Context, snap *snapshotFS, opts Options, limits model.InputLimits, cache *sandboxCache) (*childResponse, *childFailure, error) {
	timeout, err := limits.EvalTimeoutDuration()
	if err != nil || timeout <= 0 {
		timeout = defaultEvalTimeout
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Executable)
	cmd.Env = append(os.Environ(), ChildEnv+"=1",
		// The child's own soft limit keeps the collector working before
		// the watchdog's hard limit is reached.
		"GOMEMLIMIT="+strconv.FormatInt(childMemory(limits, snap.tenants()), 10))
	var stdin bytes.Buffer
	if err := gob.NewEncoder(&stdin).Encode(childRequest{Files: snap.files(), Options: opts, MemoryLimit: childMemory(limits, snap.tenants()), Cached: cache != nil, Reuse: cache.reuseList()}); err != nil {
		return nil, nil, fmt.Errorf("evaluation sandbox: encode request: %w", err)
	}
	cmd.Stdin = &stdin
	var stdout bytes.Buffer
	cmd.Stdout = &limitedWriter{w: &stdout, n: maxResponse(limits)}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("evaluation sandbox: %w", err)
	}
	cmd.ExtraFiles = []*os.File{pw}
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return nil, nil, fmt.Errorf("evaluation sandbox: start %s: %w", s.Executable, err)
	}
	_ = pw.Close() // the child's copy stays open
	tr := newTracker()
	go tr.read(pr)
	// Watch the tenants in flight; kill the child when one runs too long.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var timedOut string
	var waitErr error
wait:
	for {
		select {
		case waitErr = <-done:
			break wait
		case <-tick.C:
			if dir, ok := tr.overdue(timeout); ok && timedOut == "" {
				timedOut = dir
				_ = cmd.Process.Kill()
			}
		}
	}
	tr.wait()
	_ = pr.Close()
	if err := ctx.Err(); err != nil && timedOut == "" {
		return nil, nil, fmt.Errorf("evaluation sandbox: %w", err)
	}
	switch {
	case timedOut != "":
		return nil, &childFailure{kind: failTimeout, dir: timedOut, inFlight: tr.inFlight()}, nil
	case tr.overMemory() || exitCode(waitErr) == childOverMemory || strings.Contains(stderr.String(), "out of memory"):
		return nil, &childFailure{kind: failMemory, inFlight: tr.inFlight()}, nil
	case waitErr != nil:
		if exitCode(waitErr) == childBadRequest {
			return nil, nil, fmt.Errorf("evaluation sandbox: %s", firstLine(stderr.String()))
		}
		detail := crashLine(stderr.String())
		if detail == "" {
			detail = waitErr.Error()
		}
		return nil, &childFailure{kind: failCrash, inFlight: tr.inFlight(), detail: detail}, nil
	}
	var resp childResponse
	dec := json.NewDecoder(&stdout)
	// Plugin configs are free-form: keep CUE's integers integers.
	dec.UseNumber()
	if err := dec.Decode(&resp); err != nil {
		return nil, nil, fmt.Errorf("evaluation sandbox: read answer: %w", err)
	}
	for _, t := range resp.Tenants {
		t.EachPlugin(func(p *model.KongPlugin) { p.Config = numbers(p.Config).(map[string]any) })
	}
	return &resp, nil, nil
}

// numbers turns the json.Numbers of a decoded value into what CUE decodes
// numbers to: int64 where the number is an integer, float64 otherwise.
func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = numbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = numbers(e)
		}
	}
	return v
}

// maxResponse bounds the child's answer: the tenants' models are bounded
// each, and together by what was read of the repo.
func maxResponse(limits model.InputLimits) int64 {
	return 64<<20 + 4*limits.MaxRepoBytes
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// crashLine is the panic or fatal error line of a Go crash.
func crashLine(stderr string) string {
	for line := range strings.SplitSeq(stderr, "\n") {
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			if len(line) > 300 {
				line = line[:300] + "…"
			}
			return line
		}
	}
	return firstLine(stderr)
}

// limitedWriter keeps the first n bytes written and drops the rest, so a
// child cannot make the parent hold more than n bytes of its output.
type limitedWriter struct {
	w io.Writer
	n int64
}

func (lw *limitedWriter) Write(p []byte) (int, error) {
	if lw.n <= 0 {
		return len(p), nil
	}
	q := p
	if int64(len(q)) > lw.n {
		q = q[:lw.n]
	}
	n, err := lw.w.Write(q)
	lw.n -= int64(n)
	if err != nil {
		return n, err //nolint:wrapcheck // a bytes.Buffer's error
	}
	return len(p), nil
}

// tracker follows the child's progress lines.
type tracker struct {
	mu      sync.Mutex
	started map[string]*flight
	memory  bool
	done    chan struct{}
}

// flight is a tenant folder in progress: since when, and how many
// progress reports on it are open. Reports nest: the policy checks of a
// tenant report it, and so does locating an error in its files, in
// them.
type flight struct {
	at   time.Time
	open int
}

func newTracker() *tracker {
	return &tracker{started: map[string]*flight{}, done: make(chan struct{})}
}

func (t *tracker) read(r io.Reader) {
	defer close(t.done)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "M" {
			t.mu.Lock()
			t.memory = true
			t.mu.Unlock()
			continue
		}
		if len(line) < 3 {
			continue
		}
		dir, err := strconv.Unquote(line[2:])
		if err != nil {
			continue
		}
		t.mu.Lock()
		f := t.started[dir]
		switch {
		case line[0] == 'B' && f == nil:
			t.started[dir] = &flight{at: time.Now(), open: 1}
		case line[0] == 'B':
			f.open++
		case line[0] == 'E' && f != nil:
			if f.open--; f.open == 0 {
				delete(t.started, dir)
			}
		}
		t.mu.Unlock()
	}
}

func (t *tracker) wait() { <-t.done }

// overdue returns a tenant folder evaluated for longer than limit.
func (t *tracker) overdue(limit time.Duration) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for dir, f := range t.started {
		if time.Since(f.at) > limit {
			return dir, true
		}
	}
	return "", false
}

func (t *tracker) inFlight() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.started))
	for dir := range t.started {
		out = append(out, dir)
	}
	slices.Sort(out)
	return out
}

func (t *tracker) overMemory() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.memory
}

// childMemory is the heap a child evaluating tenant folders may use: the
// evaluator holds one tenant per worker at a time (GOMAXPROCS, as the
// loader's workers), each allowed maxEvalMemory, plus the schema and the
// decoded models. Two tenants within the limit evaluated side by side so
// never fail together; a tenant over it fails alone, where the limit is
// one tenant's.
func childMemory(limits model.InputLimits, tenants int) int64 {
	return limits.MaxEvalMemory*int64(max(1, min(runtime.GOMAXPROCS(0), tenants))) + 128<<20
}

// tenants is the number of tenant folders in the snapshot.
func (s *snapshotFS) tenants() int {
	n := 0
	for _, e := range s.dirs[TenantsDir] {
		if e.IsDir() {
			n++
		}
	}
	return n
}

// snapshotFS is the part of a repo the loader reads: the platform file and
// the .cue files of every tenant folder that is within the input limits.
type snapshotFS struct {
	byPath map[string]*snapFile
	dirs   map[string][]fs.DirEntry
}

// snapFile is one file or folder of a snapshot.
type snapFile struct {
	Path string
	Dir  bool
	Data []byte
}

// snapshot reads fsys as the loader does, with the same code: the
// platform file (trusted: evaluated here to learn policy.input), the
// tenant folders listed, sized and counted within those limits, and the
// files of the folders within them. The errors of that reading are
// returned apart: the folders they name are not in the snapshot.
func snapshot(fsys fs.FS, opts Options) (*snapshotFS, model.InputLimits, diag.List, error) {
	ev, err := newEvaluator()
	if err != nil {
		return nil, model.InputLimits{}, nil, fmt.Errorf("k3sync schema: %w", err)
	}
	l := &loader{fsys: fsys, opts: opts, tenants: map[string]*unit{}}
	var p model.Platform
	ok := l.loadPlatform(ev, &p)
	limits := l.inputLimits(ev, ok, &p)
	var files []snapFile
	if info, err := fs.Stat(fsys, PlatformFile); err == nil && info.Mode().IsRegular() && info.Size() <= MaxPlatformFileBytes {
		if b, err := readFile(fsys, PlatformFile, info.Size()); err == nil {
			files = append(files, snapFile{Path: PlatformFile, Data: b})
		}
	}
	dirs := l.tenantDirs()
	if len(dirs) > 0 {
		files = append(files, snapFile{Path: TenantsDir, Dir: true})
	}
	for _, u := range l.sizeTenants(dirs, limits) {
		if len(u.errs) > 0 {
			l.errs = append(l.errs, u.errs...)
			continue
		}
		unitFiles := []snapFile{{Path: u.dir, Dir: true}}
		for i, name := range u.files {
			b, err := readFile(fsys, name, u.sizes[i])
			if err != nil {
				l.errs.Add(fileError(name, "cannot read: "+errorText(err)))
				unitFiles = nil
				break
			}
			unitFiles = append(unitFiles, snapFile{Path: name, Data: b})
		}
		files = append(files, unitFiles...)
	}
	return newSnapFS(files), limits, l.errs, nil
}

func newSnapFS(files []snapFile) *snapshotFS {
	s := &snapshotFS{byPath: map[string]*snapFile{}, dirs: map[string][]fs.DirEntry{".": nil}}
	for i := range files {
		f := &files[i]
		s.byPath[f.Path] = f
		if f.Dir {
			if _, ok := s.dirs[f.Path]; !ok {
				s.dirs[f.Path] = nil
			}
		}
		parent := path.Dir(f.Path)
		s.dirs[parent] = append(s.dirs[parent], fs.FileInfoToDirEntry(snapInfo{f}))
	}
	for _, d := range s.dirs {
		slices.SortFunc(d, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	}
	return s
}

func (s *snapshotFS) files() []snapFile {
	out := make([]snapFile, 0, len(s.byPath))
	for _, f := range s.byPath {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b snapFile) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// without is the snapshot less a tenant folder.
func (s *snapshotFS) without(dir string) *snapshotFS {
	var keep []snapFile
	for _, f := range s.files() {
		if f.Path != dir && !strings.HasPrefix(f.Path, dir+"/") {
			keep = append(keep, f)
		}
	}
	return newSnapFS(keep)
}

// only is the snapshot with one tenant folder and the platform file.
func (s *snapshotFS) only(dir string) *snapshotFS {
	var keep []snapFile
	for _, f := range s.files() {
		if f.Path == PlatformFile || f.Path == TenantsDir || f.Path == dir || strings.HasPrefix(f.Path, dir+"/") {
			keep = append(keep, f)
		}
	}
	return newSnapFS(keep)
}

// firstFile is the first .cue file of a tenant folder, where its errors
// are reported.
func (s *snapshotFS) firstFile(dir string) string {
	for _, e := range s.dirs[dir] {
		if !e.IsDir() {
			return path.Join(dir, e.Name())
		}
	}
	return dir
}

// Open implements fs.FS.
func (s *snapshotFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if entries, ok := s.dirs[name]; ok {
		return &snapDir{info: snapInfo{&snapFile{Path: name, Dir: true}}, entries: entries}, nil
	}
	f, ok := s.byPath[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &snapOpen{info: snapInfo{f}, r: bytes.NewReader(f.Data)}, nil
}

// ReadDir implements fs.ReadDirFS.
func (s *snapshotFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, ok := s.dirs[name]
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(entries), nil
}

type snapInfo struct{ f *snapFile }

func (i snapInfo) Name() string { return path.Base(i.f.Path) }
func (i snapInfo) Size() int64  { return int64(len(i.f.Data)) }
func (i snapInfo) Mode() fs.FileMode {
	if i.f.Dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i snapInfo) ModTime() time.Time { return time.Time{} }
func (i snapInfo) IsDir() bool        { return i.f.Dir }
func (i snapInfo) Sys() any           { return nil }

type snapOpen struct {
	info snapInfo
	r    *bytes.Reader
}

func (f *snapOpen) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *snapOpen) Read(p []byte) (int, error) { return f.r.Read(p) } //nolint:wrapcheck // io.EOF must stay io.EOF
func (f *snapOpen) Close() error               { return nil }

type snapDir struct {
	info    snapInfo
	entries []fs.DirEntry
	off     int
}

func (d *snapDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *snapDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.f.Path, Err: fs.ErrInvalid}
}
func (d *snapDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *snapDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return slices.Clone(rest[:n]), nil
}
