package loader

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// countingFS counts the bytes read from each file.
type countingFS struct {
	fstest.MapFS
	mu   sync.Mutex
	read map[string]int
}

func (c *countingFS) Open(name string) (fs.File, error) {
	f, err := c.MapFS.Open(name)
	if err != nil {
		return nil, err
	}
	return &countedFile{File: f, fs: c, name: name}, nil
}

type countedFile struct {
	fs.File
	fs   *countingFS
	name string
}

func (f *countedFile) Read(b []byte) (int, error) {
	n, err := f.File.Read(b)
	f.fs.mu.Lock()
	f.fs.read[f.name] += n
	f.fs.mu.Unlock()
	return n, err
}

// ReadDir keeps listing in batches through the wrapper.
func (f *countedFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if d, ok := f.File.(fs.ReadDirFile); ok {
		return d.ReadDir(n)
	}
	return nil, fmt.Errorf("%s: not a folder", f.name)
}

// FuzzLoadLimits loads a repo with small input limits and a tenant of
// fuzzed file count, sizes and content, and checks that the loader never
// panics, names the file whenever a limit is broken, and never reads a
// byte of a file over the limit nor more than a file's size plus one.
func FuzzLoadLimits(f *testing.F) {
	f.Add(uint8(1), uint16(40), []byte(okTenant), uint16(100), uint8(3), uint16(200), uint16(400))
	f.Add(uint8(5), uint16(300), []byte("package k3sync\n"), uint16(100), uint8(3), uint16(200), uint16(400))
	f.Add(uint8(2), uint16(90), []byte(okTenant), uint16(100), uint8(3), uint16(150), uint16(160))
	f.Add(uint8(7), uint16(0), []byte{}, uint16(1), uint8(1), uint16(1), uint16(1))
	f.Fuzz(func(t *testing.T, files uint8, size uint16, content []byte, maxFile uint16, maxFiles uint8, maxTenant, maxRepo uint16) {
		files %= 8
		size %= 2048
		lim := struct{ file, files, tenant, repo int }{int(maxFile%1024) + 1, int(maxFiles%6) + 1, int(maxTenant%4096) + 1, int(maxRepo%8192) + 1}
		data := make([]byte, size)
		for i := range data {
			if len(content) > 0 {
				data[i] = content[i%len(content)]
			}
		}
		fsys := &countingFS{read: map[string]int{}, MapFS: fstest.MapFS{
			"platform.cue": {Data: platformWith(t, fmt.Sprintf("maxFileBytes: %d, maxFilesPerTenant: %d, maxTenantBytes: %d, maxRepoBytes: %d",
				lim.file, lim.files, lim.tenant, lim.repo))},
			"tenants/ok/tenant.cue": {Data: []byte(okTenant)},
		}}
		var names []string
		for i := range int(files) {
			name := fmt.Sprintf("tenants/t/f%d.cue", i)
			names = append(names, name)
			// Sizes differ per file: size, size/2, size/4, ...
			fsys.MapFS[name] = &fstest.MapFile{Data: data[:len(data)>>i]}
		}
		_, err := Load(fsys)
		var errs []string
		if l, ok := Validation(err); ok {
			for _, e := range l {
				if e.Message == "" {
					t.Errorf("error without message: %+v", e)
				}
				if _, known := fsys.MapFS[e.File]; !known && e.File != "tenants/t" {
					t.Errorf("error names a file that is not in the repo: %+v", e)
				}
				errs = append(errs, e.Error())
			}
		} else if err != nil {
			t.Fatalf("not a validation error: %v", err)
		}
		all := strings.Join(errs, "\n")
		broke := func(limit string) bool { return strings.Contains(all, "(policy.input."+limit+")") }
		if strings.Contains(all, "tenants/ok/tenant.cue:1:1: the tenant .cue files are") {
			// The repo's budget was spent before tenant t: none of it is read.
			for _, name := range names {
				if got := fsys.read[name]; got > 0 {
					t.Errorf("read %d bytes of %s after the repo's budget was spent", got, name)
				}
			}
			return
		}
		total := 0
		for i, name := range names {
			n := len(fsys.MapFS[name].Data)
			if n > lim.file && i < lim.files && !broke("maxFilesPerTenant") && !strings.Contains(all, name+":1:1: file is") {
				t.Errorf("%s is %d bytes over the limit %d, and no error says so:\n%s", name, n, lim.file, all)
			}
			if got := fsys.read[name]; n > lim.file && got > 0 || got > n+1 {
				t.Errorf("read %d bytes of %s (%d bytes, limit %d)", got, name, n, lim.file)
			}
			total += n
		}
		if len(names) > lim.files && !broke("maxFilesPerTenant") {
			t.Errorf("%d files over the limit %d, and no error says so:\n%s", len(names), lim.files, all)
		}
		if total > lim.tenant && !broke("maxTenantBytes") && !broke("maxFileBytes") && !broke("maxFilesPerTenant") {
			t.Errorf("%d bytes over the tenant limit %d, and no error says so:\n%s", total, lim.tenant, all)
		}
		if err == nil && (total > lim.tenant || len(names) > lim.files || total+len(okTenant) > lim.repo) {
			t.Errorf("loaded a repo over its limits")
		}
	})
}
