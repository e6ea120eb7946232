package loader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"golang.org/x/sync/errgroup"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/schema"
)

// dns1123Label is what tenant names must match, as #Name in the schema.
var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// PlatformFile is the platform definition at the repo root.
const PlatformFile = "platform.cue"

// TenantsDir holds one folder per tenant.
const TenantsDir = "tenants"

// schemaPrefix marks positions inside the embedded schema, so that they are
// never reported as repo positions.
const schemaPrefix = "k3sync-schema:"

// Options are what the loader needs from k3sync's own (trusted)
// configuration, beyond the repo. The zero value is valid.
type Options struct {
	// Sandbox, when set, evaluates the tenant folders in child processes
	// bounded in time and memory (see Sandbox). Without it the repo is
	// evaluated in this process, bounded in size only.
	Sandbox *Sandbox
	// ReservedNamespaces are k3sync's own namespaces (state, leader
	// election, the one it runs in): no tenant may claim them on any
	// cluster.
	ReservedNamespaces []string
	// Cache, when set, keeps each tenant folder's evaluation between
	// loads: a folder whose bytes did not change is not evaluated again
	// (ADR 0008). The result is the same with or without it.
	Cache *Cache
}

// Load reads and validates the repo in fsys with the zero Options, in this
// process. On validation failure the error is a diag.List with every problem
// found.
func Load(fsys fs.FS) (*model.Repo, error) {
	return LoadWith(context.TODO(), fsys, Options{})
}

// LoadWith reads and validates the repo in fsys. On validation failure the
// error is a diag.List with every problem found.
func LoadWith(ctx context.Context, fsys fs.FS, opts Options) (*model.Repo, error) {
	if opts.Sandbox != nil {
		return opts.Sandbox.load(ctx, fsys, opts)
	}
	l := &loader{fsys: fsys, opts: opts, tenants: map[string]*unit{}, stop: ctx.Done()}
	repo := l.load()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load repo: %w", err)
	}
	if l.cache != nil {
		l.cache.end()
	}
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	return repo, nil
}

// Validation returns the diag.List inside err, if there is one.
func Validation(err error) (diag.List, bool) {
	var l diag.List
	if errors.As(err, &l) {
		return l, true
	}
	return nil, false
}

type loader struct {
	fsys fs.FS
	opts Options
	errs diag.List
	// platform and tenants are the evaluated units, to locate paths in
	// their files when policy checks fail.
	platform *unit
	tenants  map[string]*unit
	// progress, when set, is told when each tenant folder's evaluation
	// starts and ends (the sandbox child reports it to its parent).
	progress func(dir string, done bool)
	// stop, once closed, ends the load before the next tenant folder
	// (LoadWith's ctx; in process, one evaluation cannot be interrupted).
	stop <-chan struct{}
	// cache is the load's view of opts.Cache, set by useCache.
	cache *cacheLoad
	// reuse, when set, returns the kept evaluation of a tenant unit whose
	// files were read (u.src), or nil when the unit is to be evaluated.
	reuse func(u *unit) *cacheEntry
	// kept, when set, is given each tenant unit evaluated and its model
	// (nil when it did not evaluate).
	kept func(u *unit, t *model.Tenant)
}

// stopped reports whether stop is closed.
func (l *loader) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// evaluator evaluates units with its own CUE context: contexts are not
// safe for concurrent use, so each worker has one.
type evaluator struct {
	ctx    *cue.Context
	schema cue.Value
}

// contextBatch is how many tenants a worker evaluates with one CUE context.
const contextBatch = 32

// unit is a group of files evaluated together: the platform, or one tenant.
type unit struct {
	dir   string
	fs    fs.FS
	files []string
	// sizes are the files' sizes when they were listed; reads stop there.
	sizes []int64
	asts  []*ast.File
	// ev evaluates the unit; nil once it is done, after which errors are
	// located with a fresh evaluator.
	ev   *evaluator
	errs diag.List

	// progress is the loader's progress hook, for locating errors later.
	progress func(dir string, done bool)

	// src and srcErr are the files' contents read ahead, when a cache
	// needs them for the unit's key; nil otherwise.
	src    [][]byte
	srcErr []error
	// key is the unit's cache key, once computed; entry is its cache
	// entry, reused or kept, which memoizes located positions.
	key   *cacheKey
	entry *cacheEntry

	ownOnce sync.Once
	// own are the values of each file alone, without the schema; built
	// only when an error has to be located.
	own []cue.Value
}

func (l *loader) load() *model.Repo {
	ev, err := newEvaluator()
	if err != nil {
		// The schema is embedded; failing here is a bug in k3sync.
		l.errs.Add(diag.Error{Message: "k3sync schema: " + err.Error()})
		return nil
	}
	repo := &model.Repo{}
	platformOK := l.loadPlatform(ev, &repo.Platform)
	if platformOK {
		l.checkInputLimits(&repo.Platform)
	}
	dirs := l.tenantDirs()
	// Sizes and counts are checked for every tenant before any is read.
	limits := l.inputLimits(ev, platformOK, &repo.Platform)
	units := l.sizeTenants(dirs, limits)
	l.useCache(limits)
	tenants := make([]*model.Tenant, len(dirs))
	// Tenants are independent: evaluate them in parallel, one CUE context
	// per worker, results in indexed slots.
	// A CUE context keeps what it evaluated: each worker starts a new one
	// every contextBatch tenants so memory stays flat with repo size.
	workers := min(runtime.GOMAXPROCS(0), len(dirs))
	next := make(chan int)
	var g errgroup.Group
	for range workers {
		g.Go(func() error {
			var wev *evaluator
			n := 0
			for i := range next {
				u := units[i]
				u.progress = l.progress
				if l.reuse != nil && u.read(l.fsys) {
					if e := l.reuse(u); e != nil {
						u.entry = e
						u.errs = slices.Clone(e.errs)
						tenants[i] = e.tenant
						continue
					}
				}
				if n%contextBatch == 0 {
					var err error
					if wev, err = newEvaluator(); err != nil {
						return err
					}
				}
				n++
				u.ev = wev
				if l.progress != nil {
					l.progress(u.dir, false)
				}
				if u.parse(l.fsys, false) {
					tenants[i] = u.loadTenant()
				}
				u.release()
				if l.kept != nil {
					l.kept(u, tenants[i])
				}
				if l.progress != nil {
					l.progress(u.dir, true)
				}
			}
			return nil
		})
	}
	for i := range dirs {
		if l.stopped() {
			break
		}
		next <- i
	}
	close(next)
	if err := g.Wait(); err != nil {
		l.errs.Add(diag.Error{Message: "k3sync schema: " + err.Error()})
		return nil
	}
	if l.stopped() {
		return nil
	}
	for i, u := range units {
		l.errs = append(l.errs, u.errs...)
		if t := tenants[i]; t != nil {
			repo.Tenants = append(repo.Tenants, t)
			l.tenants[t.Name] = u
		}
	}
	if platformOK {
		l.checkPolicy(repo)
	}
	return repo
}

func newEvaluator() (*evaluator, error) {
	ctx := cuecontext.New()
	inst := build.NewContext().NewInstance("k3sync-schema", nil)
	entries, err := fs.ReadDir(schema.Files, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded schema: %w", err)
	}
	for _, e := range entries {
		src, err := fs.ReadFile(schema.Files, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		f, err := parser.ParseFile(schemaPrefix+e.Name(), src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", e.Name(), err)
		}
		if err := inst.AddSyntax(f); err != nil {
			return nil, fmt.Errorf("add %s: %w", e.Name(), err)
		}
	}
	v := ctx.BuildInstance(inst)
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return &evaluator{ctx: ctx, schema: v}, nil
}

// tenantDirs lists tenants/<name> folders, sorted, and reports CUE files
// placed directly in tenants/.
func (l *loader) tenantDirs() []string {
	entries, err := fs.ReadDir(l.fsys, TenantsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		l.errs.Add(diag.Error{File: TenantsDir, Message: "read tenants folder: " + err.Error()})
		return nil
	}
	var dirs []string
	for _, e := range entries {
		name := e.Name()
		p := path.Join(TenantsDir, name)
		switch {
		case strings.HasPrefix(name, "."):
		case e.IsDir():
			dirs = append(dirs, p)
		case strings.HasSuffix(name, ".cue"):
			l.errs.Add(diag.Error{File: p, Line: 1, Column: 1, Message: "tenant files belong in a folder tenants/<tenant>/; this file is not loaded"})
		}
	}
	slices.Sort(dirs)
	return dirs
}

// parse reads and parses the unit's CUE files: the platform file, or the
// *.cue files sizeTenants listed for a tenant folder. It reports false
// when there is nothing to evaluate.
func (u *unit) parse(fsys fs.FS, platform bool) bool {
	if platform {
		u.files = []string{PlatformFile}
		if _, err := fs.Stat(fsys, PlatformFile); errors.Is(err, fs.ErrNotExist) {
			u.errs.Add(diag.Error{File: PlatformFile, Message: "missing: a platform repo needs platform.cue at its root"})
			return false
		}
		size, ok := u.stat(fsys, PlatformFile, MaxPlatformFileBytes, "for platform.cue")
		if !ok {
			return false
		}
		u.sizes = []int64{size}
	}
	if len(u.files) == 0 || len(u.errs) > 0 {
		return false
	}
	ok := true
	for i, name := range u.files {
		src, err := u.readAt(fsys, i)
		if err != nil {
			u.errs.Add(fileError(name, "cannot read: "+errorText(err)))
			ok = false
			continue
		}
		f, err := parser.ParseFile(name, src, parser.ParseComments)
		if err != nil {
			u.addCUEErrors(err)
			ok = false
			continue
		}
		if imp := foreignImport(f); imp != nil {
			// Such imports would reach outside the tenant's folder or need
			// a module; the schema's definitions are in scope already.
			u.errs.Addf(posOf(imp.Pos()), "", "import %s: only CUE's standard library can be imported; the k3sync schema's definitions (#Tenant, #Topic, ...) are in scope", imp.Path.Value)
			ok = false
			continue
		}
		u.asts = append(u.asts, f)
	}
	return ok
}

// eval evaluates the unit's files unified with the schema definition def
// (and extra fields) in one pass: one file holding def & {all files'
// declarations}. Nodes keep their own files' positions.
func (u *unit) eval(def string, extra ...ast.Decl) cue.Value {
	merged := &ast.File{Filename: u.files[0]}
	var decls []ast.Decl
	for _, f := range u.asts {
		for _, d := range f.Decls {
			switch d.(type) {
			case *ast.Package, *ast.ImportDecl:
				if _, ok := d.(*ast.ImportDecl); ok {
					merged.Decls = append(merged.Decls, d)
				}
			default:
				decls = append(decls, d)
			}
		}
	}
	// def & {decls}: a conjunction keeps def closed, where embedding def
	// next to the declarations would admit any field they declare.
	body := &ast.StructLit{Elts: append(extra, decls...)}
	merged.Decls = append(merged.Decls, &ast.EmbedDecl{Expr: &ast.BinaryExpr{X: ast.NewIdent(def), Op: token.AND, Y: body}})
	return u.ev.ctx.BuildFile(merged, cue.Scope(u.ev.schema))
}

func (l *loader) loadPlatform(ev *evaluator, p *model.Platform) bool {
	u := &unit{ev: ev, fs: l.fsys}
	l.platform = u
	ok := u.parse(l.fsys, true) && u.decode(u.eval("#Platform"), p)
	l.errs = append(l.errs, u.errs...)
	return ok
}

func (u *unit) loadTenant() *model.Tenant {
	name := path.Base(u.dir)
	if !dns1123Label.MatchString(name) {
		u.errs.Add(diag.Error{File: u.files[0], Line: 1, Column: 1, Message: fmt.Sprintf(
			"tenant folder %q is not a valid tenant name: lower-case letters, digits and '-', at most 63 characters, starting and ending with a letter or digit", name)})
		return nil
	}
	nameField := &ast.Field{Label: ast.NewIdent("name"), Value: ast.NewString(name)}
	t := &model.Tenant{}
	if !u.decode(u.eval("#Tenant", nameField), t) {
		return nil
	}
	t.Dir = u.dir
	t.Files = u.files
	return t
}

// decode validates v as concrete data and decodes it into out.
func (u *unit) decode(v cue.Value, out any) bool {
	if err := v.Validate(cue.Concrete(true)); err != nil {
		u.addCUEErrors(err)
		return false
	}
	if err := v.Decode(out); err != nil {
		u.addCUEErrors(err)
		return false
	}
	return true
}

// release drops what the unit's evaluation holds once it is decoded.
func (u *unit) release() {
	u.ev = nil
	u.asts = nil
}

// ownValues builds each file of the unit alone, to locate paths in it.
// Units released after a clean evaluation parse their files again: only
// policy errors, which are rare, need this.
func (u *unit) ownValues() []cue.Value {
	u.ownOnce.Do(func() {
		if u.progress != nil && u.dir != "" {
			// Evaluating a tenant's files alone is evaluation too.
			u.progress(u.dir, false)
			defer u.progress(u.dir, true)
		}
		ev := u.ev
		if ev == nil {
			var err error
			if ev, err = newEvaluator(); err != nil {
				return
			}
		}
		asts := u.asts
		if asts == nil {
			for i, name := range u.files {
				src, err := u.readAt(u.fs, i)
				if err != nil {
					continue
				}
				if f, err := parser.ParseFile(name, src, parser.ParseComments); err == nil {
					asts = append(asts, f)
				}
			}
		}
		for _, f := range asts {
			u.own = append(u.own, ev.ctx.BuildFile(f, cue.Scope(ev.schema)))
		}
	})
	return u.own
}

// foreignImport returns the first import that is not CUE's standard library.
func foreignImport(f *ast.File) *ast.ImportSpec {
	for spec := range f.ImportSpecs() {
		p, err := literal.Unquote(spec.Path.Value)
		if err != nil || strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
			return spec
		}
	}
	return nil
}
