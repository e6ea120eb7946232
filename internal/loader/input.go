package loader

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"cuelang.org/go/cue"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/model"
)

// MaxPlatformFileBytes bounds platform.cue. The platform file is trusted,
// but it is read before any limit is known: a broken one fails cleanly.
const MaxPlatformFileBytes = 4 << 20

// listBatch is how many folder entries are asked for at a time.
const listBatch = 256

// inputLimits are the limits that apply to the tenant folders: the
// platform's when it decoded, else the schema's defaults (a broken
// platform fails the load anyway; the tenants are still checked, safely).
func (l *loader) inputLimits(ev *evaluator, platformOK bool, p *model.Platform) model.InputLimits {
	if platformOK {
		return p.Policy.Input
	}
	return defaultInputLimits(ev)
}

// defaultInputLimits decodes #InputLimits' defaults from the schema, so
// that the defaults are written once.
func defaultInputLimits(ev *evaluator) model.InputLimits {
	var lim model.InputLimits
	v := ev.schema.LookupPath(cue.MakePath(cue.Def("InputLimits")))
	if err := v.Decode(&lim); err != nil {
		// The schema is embedded and its defaults concrete: a bug in
		// k3sync, caught by TestDefaultInputLimits. Fail closed.
		return model.InputLimits{MaxFileBytes: 0, MaxFilesPerTenant: 0, MaxEntriesPerTenant: 1}
	}
	return lim
}

// checkInputLimits reports what the schema cannot judge of the platform's
// input limits.
func (l *loader) checkInputLimits(p *model.Platform) {
	if d, err := p.Policy.Input.EvalTimeoutDuration(); err != nil || d <= 0 {
		at := []string{"policy", "input", "evalTimeout"}
		l.errs.Addf(l.platform.locate(at), formatSelectors(at), "%q is not a positive duration", p.Policy.Input.EvalTimeout)
	}
}

// sizeTenants lists the *.cue files of every tenant folder and checks the
// input limits against their sizes before anything is read. A unit that
// breaks a limit has errors and no files; once the repo's budget is spent
// the remaining tenants are not read at all.
func (l *loader) sizeTenants(dirs []string, lim model.InputLimits) []*unit {
	units := make([]*unit, len(dirs))
	var repoBytes int64
	spent := false
	for i, dir := range dirs {
		u := &unit{dir: dir, fs: l.fsys}
		units[i] = u
		if spent {
			continue
		}
		u.size(l.fsys, lim)
		if len(u.errs) > 0 {
			u.files, u.sizes = nil, nil
			continue
		}
		for j, n := range u.sizes {
			repoBytes += n
			if repoBytes > lim.MaxRepoBytes {
				u.errs.Add(fileError(u.files[j], fmt.Sprintf(
					"the tenant .cue files are %d bytes up to this one, the platform allows at most %d per repo (policy.input.maxRepoBytes); this tenant and the ones after it are not loaded",
					repoBytes, lim.MaxRepoBytes)))
				u.files, u.sizes = nil, nil
				spent = true
				break
			}
		}
	}
	return units
}

// size lists the unit's *.cue files, sorted, and their sizes, checking the
// per-tenant limits.
func (u *unit) size(fsys fs.FS, lim model.InputLimits) {
	entries, more, err := listDir(fsys, u.dir, lim.MaxEntriesPerTenant)
	if err != nil {
		u.errs.Add(diag.Error{File: u.dir, Message: "read folder: " + errorText(err)})
		return
	}
	if more {
		u.errs.Add(diag.Error{File: u.dir, Message: fmt.Sprintf(
			"the folder has more than %d entries, the platform allows at most %d per tenant folder (policy.input.maxEntriesPerTenant)",
			lim.MaxEntriesPerTenant, lim.MaxEntriesPerTenant)})
		return
	}
	var names []string
	for _, e := range entries {
		// A link is not a folder here, whatever it points at: Stat decides.
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".cue") && !strings.HasPrefix(e.Name(), ".") {
			if e.Type()&fs.ModeSymlink != 0 {
				if msg := linkLeaves(fsys, path.Join(u.dir, e.Name())); msg != "" {
					u.errs.Add(fileError(path.Join(u.dir, e.Name()), msg))
					continue
				}
			}
			names = append(names, e.Name())
		}
	}
	if len(u.errs) > 0 {
		return
	}
	slices.Sort(names)
	if len(names) > lim.MaxFilesPerTenant {
		u.errs.Add(fileError(path.Join(u.dir, names[lim.MaxFilesPerTenant]), fmt.Sprintf(
			"tenant %s has %d .cue files, the platform allows at most %d per tenant (policy.input.maxFilesPerTenant)",
			path.Base(u.dir), len(names), lim.MaxFilesPerTenant)))
		return
	}
	var total int64
	for _, n := range names {
		name := path.Join(u.dir, n)
		size, ok := u.stat(fsys, name, lim.MaxFileBytes, "per tenant file (policy.input.maxFileBytes)")
		if !ok {
			continue
		}
		total += size
		if total > lim.MaxTenantBytes {
			u.errs.Add(fileError(name, fmt.Sprintf(
				"tenant %s's .cue files are %d bytes up to this one, the platform allows at most %d per tenant (policy.input.maxTenantBytes)",
				path.Base(u.dir), total, lim.MaxTenantBytes)))
			return
		}
		u.files = append(u.files, name)
		u.sizes = append(u.sizes, size)
	}
}

// stat returns the size of the regular file name, reporting it when it is
// over limit (what names the limit).
func (u *unit) stat(fsys fs.FS, name string, limit int64, what string) (int64, bool) {
	info, err := fs.Stat(fsys, name)
	switch {
	case err != nil:
		u.errs.Add(fileError(name, "cannot read: "+errorText(err)))
		return 0, false
	case !info.Mode().IsRegular():
		u.errs.Add(fileError(name, fmt.Sprintf("cannot read: not a regular file (%s)", info.Mode().Type())))
		return 0, false
	case info.Size() > limit:
		u.errs.Add(fileError(name, fmt.Sprintf("file is %d bytes, the platform allows at most %d %s", info.Size(), limit, what)))
		return 0, false
	}
	return info.Size(), true
}

// readFile reads name, which Stat said is size bytes, reading at most
// size+1 bytes whatever the file system does: a file that grew since, or a
// file system whose Stat lies, is an error, never a larger read.
func readFile(fsys fs.FS, name string, size int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err //nolint:wrapcheck // a PathError naming the file
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, size+1)
	n, err := io.ReadFull(io.LimitReader(f, size+1), buf)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return buf[:n], nil
	case err != nil:
		return nil, err //nolint:wrapcheck // a PathError naming the file
	}
	return nil, fmt.Errorf("the file grew while it was read: more than the %d bytes it had", size)
}

// listDir lists at most max entries of dir, in batches when the file
// system can, and says whether there were more.
func listDir(fsys fs.FS, dir string, max int) ([]fs.DirEntry, bool, error) {
	f, err := fsys.Open(dir)
	if err != nil {
		return nil, false, err //nolint:wrapcheck // a PathError naming the folder
	}
	defer func() { _ = f.Close() }()
	rd, ok := f.(fs.ReadDirFile)
	if !ok {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			return nil, false, err //nolint:wrapcheck // a PathError naming the folder
		}
		if len(entries) > max {
			return entries[:max], true, nil
		}
		return entries, false, nil
	}
	var out []fs.DirEntry
	for len(out) <= max {
		batch, err := rd.ReadDir(min(listBatch, max+1-len(out)))
		out = append(out, batch...)
		if errors.Is(err, io.EOF) || err == nil && len(batch) == 0 {
			break
		}
		if err != nil {
			return nil, false, err //nolint:wrapcheck // a PathError naming the folder
		}
	}
	if len(out) > max {
		return out[:max], true, nil
	}
	return out, false, nil
}

// maxLinkHops bounds the links followed from one tenant file, as Linux
// does.
const maxLinkHops = 40

// linkLeaves says why the link name, a tenant file, is refused: a tenant's
// files may link only to files beside them in the tenant's own folder
// (what else they read would be another tenant's, which that tenant can
// change without this tenant's folder changing). Empty when it stays.
func linkLeaves(fsys fs.FS, name string) string {
	dir := path.Dir(name)
	for range maxLinkHops {
		info, err := fs.Lstat(fsys, name)
		if err != nil {
			return "cannot read: " + errorText(err)
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return ""
		}
		target, err := fs.ReadLink(fsys, name)
		if err != nil {
			return "cannot read link: " + errorText(err)
		}
		if strings.ContainsAny(target, `/\`) || target == "." || target == ".." {
			return fmt.Sprintf("link to %q leaves the tenant's folder: a tenant's files may link only to files beside them in its own folder", target)
		}
		name = path.Join(dir, target)
	}
	return fmt.Sprintf("more than %d links in a row", maxLinkHops)
}

// fileError is an error about a whole file.
func fileError(name, msg string) diag.Error {
	return diag.Error{File: name, Line: 1, Column: 1, Message: msg}
}

// errorText is err without the operation and path a PathError repeats:
// the diag.Error names the file already.
func errorText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
