package loader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/tools/txtar"
)

// FuzzLoad feeds arbitrary bytes as a tenant file (and as the platform
// file) and checks the loader never panics and always explains a failure
// with errors that point into the repo.
func FuzzLoad(f *testing.F) {
	platform := testPlatform(f)
	seeds, _ := filepath.Glob(exampleRepo + "/tenants/*/tenant.cue")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	ars, _ := filepath.Glob("testdata/invalid/*.txtar")
	for _, a := range ars {
		ar, err := txtar.ParseFile(a)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range ar.Files {
			if strings.HasSuffix(file.Name, ".cue") {
				f.Add(file.Data, file.Name == "platform.cue")
			}
		}
	}
	f.Add([]byte("package k3sync\n\nowners: [\"x\"]\n\u0000"), false)
	f.Fuzz(func(t *testing.T, src []byte, asPlatform bool) {
		fsys := fstest.MapFS{
			"platform.cue":          {Data: platform},
			"tenants/t/tenant.cue":  {Data: src},
			"tenants/ok/tenant.cue": {Data: []byte("package k3sync\n\nowners: [\"ok\"]\n")},
		}
		if asPlatform {
			fsys["platform.cue"] = &fstest.MapFile{Data: src}
		}
		repo, err := Load(fsys)
		if err == nil {
			if repo == nil || len(repo.Tenants) != 2 {
				t.Fatalf("valid load without both tenants: %+v", repo)
			}
			return
		}
		l, ok := Validation(err)
		if !ok {
			t.Fatalf("not a validation error: %v", err)
		}
		for _, e := range l {
			if e.Message == "" {
				t.Errorf("error without message: %+v", e)
			}
			if _, known := fsys[e.File]; !known {
				t.Errorf("error names a file that is not in the repo: %+v", e)
			}
		}
	})
}
