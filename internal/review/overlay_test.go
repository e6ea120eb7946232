package review

import (
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestOverlay(t *testing.T) {
	base := fstest.MapFS{
		"platform.cue":                 {Data: []byte("base platform")},
		"README.md":                    {Data: []byte("base readme")},
		"tenants/payments/tenant.cue":  {Data: []byte("base payments")},
		"tenants/payments/extra.cue":   {Data: []byte("base extra")},
		"tenants/search/tenant.cue":    {Data: []byte("base search, newer than the branch")},
		"tenants/analytics/tenant.cue": {Data: []byte("base analytics")},
	}
	head := fstest.MapFS{
		"platform.cue":                 {Data: []byte("old platform")},
		"README.md":                    {Data: []byte("old readme")},
		"tenants/payments/tenant.cue":  {Data: []byte("head payments")},
		"tenants/search/tenant.cue":    {Data: []byte("old search")},
		"tenants/checkout/tenant.cue":  {Data: []byte("head checkout")},
		"tenants/checkout/kafka/x.cue": {Data: []byte("head nested")},
	}
	// The pull request edits payments (deleting extra.cue), adds checkout
	// and deletes analytics; search and the rest are the branch's.
	o := newOverlay(base, head, []string{
		"tenants/analytics/tenant.cue", "tenants/checkout/kafka/x.cue", "tenants/checkout/tenant.cue",
		"tenants/payments/extra.cue", "tenants/payments/tenant.cue",
	})
	want := map[string]string{
		"platform.cue":                 "base platform",
		"README.md":                    "base readme",
		"tenants/payments/tenant.cue":  "head payments",
		"tenants/search/tenant.cue":    "base search, newer than the branch",
		"tenants/checkout/tenant.cue":  "head checkout",
		"tenants/checkout/kafka/x.cue": "head nested",
	}
	got := map[string]string{}
	err := fs.WalkDir(o, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(o, p)
		got[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	var names []string
	for p := range want {
		names = append(names, p)
	}
	if err := fstest.TestFS(o, names...); err != nil {
		t.Error(err)
	}
	for _, gone := range []string{"tenants/payments/extra.cue", "tenants/analytics/tenant.cue", "nope"} {
		if _, err := fs.ReadFile(o, gone); err == nil {
			t.Errorf("%s is readable", gone)
		}
	}
}
