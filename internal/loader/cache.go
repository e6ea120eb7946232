package loader

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"hash"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/model"
	"github.com/k3sync/k3sync/internal/version"
	"github.com/k3sync/k3sync/schema"
)

// Cache keeps the evaluation of each tenant folder between loads, so that a
// revision that changes one folder evaluates that folder only (ADR 0008).
//
// An entry is found by a SHA-256 over the exact bytes that decide a
// tenant's evaluation: the folder's name, its .cue files' names and
// contents, the platform's input limits (policy.input, which decide what
// of the folder is read and how long its evaluation may run), k3sync's
// embedded schema and version, and the loader Options. The rest of
// platform.cue is not part of it: a tenant's files are evaluated against
// the schema alone, and every check that reads the platform runs again on
// every load. Never by names or times alone: a folder whose bytes
// differ is evaluated again. An entry holds the tenant's model and its own
// diagnostics (a tenant with errors keeps them), and the positions found
// for its policy errors. Policy checks, those that look across tenants and
// those that do not, run over every tenant on every load, so a load with a
// cache returns what a load without one returns.
//
// The cache keeps the entries the last few loads used and drops the rest
// once a load ends: a folder that disappeared, or changed, loses its old
// entry. Its memory is bounded by what those loads held anyway.
//
// A Cache is safe for concurrent use; loads that share one share the
// entries whose bytes they share (a pull request's merged tree and the
// main branch, for instance). Tenants a load returns may be the very
// values an earlier load returned: they are read-only.
type Cache struct {
	mu sync.Mutex
	// keep is how many recent loads' entries are kept.
	keep    uint64
	gen     uint64
	entries map[cacheKey]*cacheEntry
	// evaluated and reused count tenant folders, for tests and benchmarks.
	evaluated, reused int
}

// NewCache returns a cache that keeps the entries used by the last loads
// loads (at least one).
func NewCache(loads int) *Cache {
	return &Cache{keep: uint64(max(1, loads)), entries: map[cacheKey]*cacheEntry{}} //nolint:gosec // at least one
}

type cacheKey [sha256.Size]byte

// cacheEntry is one tenant folder's evaluation.
type cacheEntry struct {
	// used is the last load (generation) that used the entry.
	used uint64
	// tenant is the model in process, nil when the folder did not
	// evaluate; model is its JSON from a sandbox child, nil likewise.
	tenant *model.Tenant
	model  []byte
	// errs are the folder's own diagnostics (CUE's and the loader's),
	// not the policy checks', which are run again on every load.
	errs diag.List

	posMu sync.Mutex
	// positions are where policy checks located paths in the folder's
	// files: the same bytes put them at the same place.
	positions map[string]diag.Position
}

// position returns the memoized position of path.
func (e *cacheEntry) position(path []string) (diag.Position, bool) {
	e.posMu.Lock()
	defer e.posMu.Unlock()
	p, ok := e.positions[strings.Join(path, "\x00")]
	return p, ok
}

func (e *cacheEntry) setPosition(path []string, p diag.Position) {
	e.posMu.Lock()
	defer e.posMu.Unlock()
	if e.positions == nil {
		e.positions = map[string]diag.Position{}
	}
	e.positions[strings.Join(path, "\x00")] = p
}

// cacheLoad is one load's view of a cache: its generation and the part of
// the key that every tenant of the load shares.
type cacheLoad struct {
	c    *Cache
	gen  uint64
	base []byte
}

// begin starts a load whose tenants share base (see baseKey).
func (c *Cache) begin(base []byte) *cacheLoad {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	return &cacheLoad{c: c, gen: c.gen, base: base}
}

// end drops the entries that none of the last keep loads used.
func (cl *cacheLoad) end() {
	c := cl.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.used+c.keep <= c.gen {
			delete(c.entries, k)
		}
	}
}

// lookup returns the entry for key, marking it used by this load.
func (cl *cacheLoad) lookup(k cacheKey) *cacheEntry {
	c := cl.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil {
		c.evaluated++
		return nil
	}
	c.reused++
	e.used = max(e.used, cl.gen)
	return e
}

// store keeps e under key for this load.
func (cl *cacheLoad) store(k cacheKey, e *cacheEntry) {
	c := cl.c
	c.mu.Lock()
	defer c.mu.Unlock()
	e.used = cl.gen
	c.entries[k] = e
}

// CacheStats count what a cache did since it was made.
type CacheStats struct {
	// Evaluated and Reused count tenant folders loads evaluated and took
	// from the cache.
	Evaluated, Reused int
	// Entries is the number of tenant evaluations kept now.
	Entries int
}

// Stats returns what the cache did so far; the zero value for nil.
func (c *Cache) Stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Evaluated: c.evaluated, Reused: c.reused, Entries: len(c.entries)}
}

// counts returns how many tenant folders loads evaluated and reused.
func (c *Cache) counts() (evaluated, reused int) {
	st := c.Stats()
	return st.Evaluated, st.Reused
}

// len is the number of entries kept.
func (c *Cache) len() int { return c.Stats().Entries }

// cacheFormat changes when what an entry holds changes.
const cacheFormat = "k3sync loader cache 2"

var schemaDigest = sync.OnceValue(func() []byte {
	h := sha256.New()
	entries, err := fs.ReadDir(schema.Files, ".")
	if err != nil {
		// Never equal to a digest: no load shares entries then.
		return []byte("unreadable schema: " + err.Error())
	}
	for _, e := range entries {
		src, err := fs.ReadFile(schema.Files, e.Name())
		if err != nil {
			return []byte("unreadable schema: " + err.Error())
		}
		writeField(h, []byte(e.Name()))
		writeField(h, src)
	}
	return h.Sum(nil)
})

// baseKey is what every tenant's key of one load shares: k3sync's schema
// and version, how the load evaluates (in process or in a sandbox child,
// whose entries hold different things), the platform's input limits and
// the options.
//
// Of platform.cue only policy.input is part of the key: it decides which
// files of a folder are listed and read and the limits of its evaluation.
// A tenant's files are unified with the schema alone (unit.eval), never
// with the platform, so clusters, gateways, capacity or guardrails do not
// change what a folder evaluates to; the checks that read them run over
// every tenant on every load (ADR 0008).
func baseKey(limits model.InputLimits, opts Options, sandboxed bool) []byte {
	h := sha256.New()
	writeField(h, []byte(cacheFormat))
	writeField(h, []byte(version.Version))
	writeField(h, schemaDigest())
	mode := []byte("in-process")
	if sandboxed {
		mode = []byte("sandbox")
	}
	writeField(h, mode)
	// Every option but how the load runs, and every input limit: a field
	// added to either is part of the key without anyone remembering to
	// add it.
	opts.Sandbox, opts.Cache = nil, nil
	for _, v := range []any{limits, opts} {
		b, err := json.Marshal(v)
		if err != nil {
			// Never the same twice: such a load reuses nothing.
			b = []byte(rand.Text())
		}
		writeField(h, b)
	}
	return h.Sum(nil)
}

// tenantKey is the key of the tenant folder dir whose .cue files, sorted,
// are names with contents data.
func tenantKey(base []byte, dir string, names []string, data [][]byte) cacheKey {
	h := sha256.New()
	writeField(h, base)
	writeField(h, []byte(dir))
	writeUint(h, uint64(len(names)))
	for i, n := range names {
		writeField(h, []byte(n))
		writeField(h, data[i])
	}
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// writeField writes b with its length first, so that no two sequences of
// fields hash the same bytes.
func writeField(h hash.Hash, b []byte) {
	writeUint(h, uint64(len(b)))
	h.Write(b)
}

func writeUint(h hash.Hash, n uint64) {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], n)
	h.Write(buf[:])
}

// useCache sets the loader up to reuse and keep tenant evaluations in
// opts.Cache, in process, for a load whose tenant folders were sized
// within limits. It keeps the load's view of the cache in l.cache; it does
// nothing without a cache.
func (l *loader) useCache(limits model.InputLimits) {
	if l.opts.Cache == nil {
		return
	}
	cl := l.opts.Cache.begin(baseKey(limits, l.opts, false))
	l.cache = cl
	l.reuse = func(u *unit) *cacheEntry {
		k := u.cacheKey(cl.base)
		u.key = &k
		return cl.lookup(k)
	}
	l.kept = func(u *unit, t *model.Tenant) {
		if u.key == nil {
			return
		}
		e := &cacheEntry{tenant: t, errs: slices.Clone(u.errs)}
		cl.store(*u.key, e)
		u.entry = e
	}
}

// read reads the unit's files ahead of parsing, keeping what it read and
// any error for parse to report. It reports whether every file was read.
func (u *unit) read(fsys fs.FS) bool {
	if len(u.files) == 0 || len(u.errs) > 0 {
		return false
	}
	u.src = make([][]byte, len(u.files))
	u.srcErr = make([]error, len(u.files))
	ok := true
	for i, name := range u.files {
		u.src[i], u.srcErr[i] = readFile(fsys, name, u.sizes[i])
		ok = ok && u.srcErr[i] == nil
	}
	return ok
}

// readAt returns the contents of the unit's i-th file: what read kept, or
// read now.
func (u *unit) readAt(fsys fs.FS, i int) ([]byte, error) {
	if u.src != nil {
		return u.src[i], u.srcErr[i]
	}
	return readFile(fsys, u.files[i], u.sizes[i])
}

// cacheKey is the unit's key: base, its folder, its files' names and
// contents (read by read).
func (u *unit) cacheKey(base []byte) cacheKey {
	return tenantKey(base, u.dir, u.files, u.src)
}

// sandboxCache is a sandboxed load's use of a cache: the parent keys each
// tenant folder of the snapshot, sends the child the evaluations it keeps,
// and keeps what the child evaluated. Its methods do nothing on nil.
type sandboxCache struct {
	cl    *cacheLoad
	keys  map[string]cacheKey
	reuse []reusedUnit
	// reused are the folders sent to the child as kept: what it answers
	// for them is never kept (keep).
	reused map[string]bool
}

// useCache looks up every tenant folder of the snapshot, read within
// limits, in opts.Cache.
func (s *snapshotFS) useCache(opts Options, limits model.InputLimits) *sandboxCache {
	if opts.Cache == nil {
		return nil
	}
	sc := &sandboxCache{cl: opts.Cache.begin(baseKey(limits, opts, true)), keys: map[string]cacheKey{}, reused: map[string]bool{}}
	for _, d := range s.dirs[TenantsDir] {
		if !d.IsDir() {
			continue
		}
		dir := path.Join(TenantsDir, d.Name())
		var names []string
		var data [][]byte
		for _, e := range s.dirs[dir] {
			if f := s.byPath[path.Join(dir, e.Name())]; f != nil && !f.Dir {
				names = append(names, f.Path)
				data = append(data, f.Data)
			}
		}
		k := tenantKey(sc.cl.base, dir, names, data)
		sc.keys[dir] = k
		if e := sc.cl.lookup(k); e != nil {
			sc.reuse = append(sc.reuse, reusedUnit{Dir: dir, Model: e.model, Errs: e.errs})
			sc.reused[dir] = true
		}
	}
	return sc
}

// keep keeps the tenant folders the child evaluated and ends the load.
// Only the folders it was asked to evaluate are kept: the cache is shared
// by the daemon's loads of its branch and of pull requests, and a child
// evaluating a pull request never replaces what another load keeps for a
// folder it was handed.
func (sc *sandboxCache) keep(resp *childResponse) {
	if sc == nil {
		return
	}
	for _, u := range resp.Units {
		if k, ok := sc.keys[u.Dir]; ok && !sc.reused[u.Dir] {
			sc.cl.store(k, &cacheEntry{model: u.Model, errs: u.Errs})
		}
	}
	sc.cl.end()
}

// reuseList is what the child is to reuse.
func (sc *sandboxCache) reuseList() []reusedUnit {
	if sc == nil {
		return nil
	}
	return sc.reuse
}

// GobEncode implements gob.GobEncoder: a cache stays in its process, and
// Options sent to a sandbox child carry none.
func (c *Cache) GobEncode() ([]byte, error) { return nil, nil }

// GobDecode implements gob.GobDecoder; see GobEncode.
func (c *Cache) GobDecode([]byte) error { return nil }
