package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/loader"
	"github.com/k3sync/k3sync/internal/model"
)

// Options say what to import.
type Options struct {
	// Tenant is the tenant's name (its folder).
	Tenant string
	// Owners are the tenant's owners (default: the tenant's name).
	Owners []string
	// Namespaces to read on every cluster (default: the tenant's name).
	Namespaces []string
	// TopicPrefix selects topics, and users and ACLs by their names
	// (default "<tenant>.").
	TopicPrefix string
	// KongTag selects the Kong entities carrying the tag; else KongPrefix
	// the ones whose name starts with it (default "<tenant>-", and the
	// entities named exactly <tenant>).
	KongTag, KongPrefix string
	// Platform is the policy the file is written for: allowed roles,
	// label keys, plugins and topic configs. Nil: the schema's defaults.
	Platform *model.Platform
	// Progress, when set, receives one line per step ("kafka main: 120
	// topics read").
	Progress func(format string, args ...any)
}

// Result is the generated file and what could not go in it.
type Result struct {
	// File is the content of tenants/<tenant>/tenant.cue.
	File []byte
	// NotImportable lists what the file has as comments only, one line
	// each (live values quoted as CUE strings).
	NotImportable []string
	// Renamed lists live objects imported under another name: k3sync
	// creates its own beside them (a role binding not named
	// k3sync:<role>:<group>), to delete by hand once the first apply is
	// done. A quota or limit range keeps its name (quota.name).
	Renamed []string
	// Counts of what was imported, by kind ("namespaces", "topics", ...).
	Counts map[string]int

	tenant string
	root   *obj
}

// header is the file's opening comment.
func (r *Result) header() []string {
	h := []string{
		"Imported by `k3sync import` from the live systems; review before committing.",
		"Secrets are never exported: SCRAM users and key-auth consumers keep their credentials (adopted).",
	}
	if n := len(r.NotImportable); n > 0 {
		h = append(h, fmt.Sprintf("%d item(s) could not be imported: see the \"not importable\" comments.", n))
	}
	return h
}

// importer is one run.
type importer struct {
	opts     Options
	platform *model.Platform
	notes    []string
	renamed  []string
	counts   map[string]int
}

// skip records something that cannot be imported: as a comment in o (when
// not nil) and in the report. Live values in format's arguments must be
// quoted by the caller (q).
func (im *importer) skip(o *obj, format string, args ...any) {
	msg := oneLine(fmt.Sprintf(format, args...))
	im.notes = append(im.notes, msg)
	if o != nil {
		o.comment("not importable: " + msg)
	}
}

// rename records a live object that k3sync will have under another name.
func (im *importer) rename(o *obj, kind, ns, live, k3sync string) {
	msg := fmt.Sprintf("%s %s in namespace %s is imported as k3sync's %s: the first apply creates that one beside it; delete %s afterwards",
		kind, q(live), q(ns), q(k3sync), q(live))
	im.renamed = append(im.renamed, msg)
	o.comment(msg)
}

// q quotes a live value for a comment or report line.
func q(s string) string { return quote(s) }

// maxShown bounds the runes of a long value shown in a comment (an
// annotation holding a whole manifest).
const maxShown = 120

// qShort is q of s cut to maxShown runes ("…" marks the cut).
func qShort(s string) string {
	if r := []rune(s); len(r) > maxShown {
		return quote(string(r[:maxShown]) + "…")
	}
	return quote(s)
}

// Import reads the live systems of src and writes the tenant's file.
func Import(ctx context.Context, src *Sources, opts Options) (*Result, error) {
	if opts.Tenant == "" {
		return nil, errors.New("no tenant")
	}
	if len(opts.Namespaces) == 0 {
		opts.Namespaces = []string{opts.Tenant}
	}
	if len(opts.Owners) == 0 {
		opts.Owners = []string{opts.Tenant}
	}
	if opts.TopicPrefix == "" {
		opts.TopicPrefix = opts.Tenant + "."
	}
	if opts.KongTag != "" && opts.KongPrefix != "" {
		return nil, errors.New("choose one of --kong-tag and --kong-prefix")
	}
	if opts.Progress == nil {
		opts.Progress = func(string, ...any) {}
	}
	im := &importer{opts: opts, platform: opts.Platform, counts: map[string]int{}}
	if im.platform == nil {
		p, err := DefaultPlatform(src.KafkaCluster, src.Gateway)
		if err != nil {
			return nil, err
		}
		im.platform = p
	}

	root := &obj{}
	root.set("owners", strList(opts.Owners))
	if k, err := im.kubernetes(ctx, src); err != nil {
		return nil, err
	} else if k != nil {
		root.set("kubernetes", k)
	}
	if k, err := im.kafka(ctx, src); err != nil {
		return nil, err
	} else if k != nil {
		root.set("kafka", k)
	}
	if k, err := im.kong(ctx, src); err != nil {
		return nil, err
	} else if k != nil {
		root.set("kong", k)
	}
	pol := &obj{}
	pol.set("adopt", lit("true"), "Adopt what exists instead of blocking on it: the first plan takes it over.")
	root.set("policies", pol)

	res := &Result{NotImportable: im.notes, Renamed: im.renamed, Counts: im.counts, tenant: opts.Tenant, root: root}
	file, err := renderFile(res.header(), root)
	if err != nil {
		return nil, err
	}
	res.File = file
	return res, nil
}

// DefaultPlatform is a platform with the schema's default policy, and the
// default limits of Kafka cluster kafka: what a file is checked against
// when no platform repo is given.
func DefaultPlatform(kafka, gateway string) (*model.Platform, error) {
	var b strings.Builder
	b.WriteString("package k3sync\n")
	if kafka != "" {
		fmt.Fprintf(&b, "kafka: %s: brokers: 1\n", quote(kafka))
	}
	if gateway != "" {
		fmt.Fprintf(&b, "gateways: %s: {}\n", quote(gateway))
	}
	repo, err := loader.Load(fstest.MapFS{loader.PlatformFile: {Data: []byte(b.String())}})
	if err != nil {
		return nil, fmt.Errorf("default platform: %w", err)
	}
	return &repo.Platform, nil
}

// Platform loads platform.cue of the repo in fsys alone.
func Platform(fsys fs.FS) (*model.Platform, error) {
	b, err := fs.ReadFile(fsys, loader.PlatformFile)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	repo, err := loader.Load(fstest.MapFS{loader.PlatformFile: {Data: b}})
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	return &repo.Platform, nil
}

// Validate loads the repo in fsys with file as tenants/<tenant>/tenant.cue
// (replacing the tenant's folder if the repo has one) and returns the
// validation errors: none when the repo with the file is valid.
func Validate(fsys fs.FS, tenant string, file []byte) (diag.List, error) {
	_, errs, err := validate(fsys, tenant, file)
	return errs, err
}

func validate(fsys fs.FS, tenant string, file []byte) (*model.Repo, diag.List, error) {
	ofs, err := Overlay(fsys, tenant, file)
	if err != nil {
		return nil, nil, err
	}
	repo, err := loader.Load(ofs)
	if err != nil {
		if l, ok := loader.Validation(err); ok {
			return nil, l, nil
		}
		return nil, nil, err //nolint:wrapcheck // the loader names the repo
	}
	return repo, nil, nil
}

// FileName is where the tenant's file goes in a repo.
func FileName(tenant string) string {
	return path.Join(loader.TenantsDir, tenant, "tenant.cue")
}

// Overlay is a copy of the repo in fsys (platform.cue and the tenant
// folders) with tenants/<tenant>/ holding file only.
func Overlay(fsys fs.FS, tenant string, file []byte) (fs.FS, error) {
	out := fstest.MapFS{}
	b, err := fs.ReadFile(fsys, loader.PlatformFile)
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	out[loader.PlatformFile] = &fstest.MapFile{Data: b, Mode: 0o644}
	own := path.Join(loader.TenantsDir, tenant)
	err = fs.WalkDir(fsys, loader.TenantsDir, func(name string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist) && name == loader.TenantsDir:
			return fs.SkipDir
		case err != nil:
			return err
		case name == own && d.IsDir():
			return fs.SkipDir
		case d.IsDir():
			return nil
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err //nolint:wrapcheck // wrapped below
		}
		out[name] = &fstest.MapFile{Data: b, Mode: 0o644}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	out[FileName(tenant)] = &fstest.MapFile{Data: file, Mode: 0o644}
	return out, nil
}
