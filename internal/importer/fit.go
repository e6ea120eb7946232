package importer

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"cuelang.org/go/cue/literal"

	"github.com/k3sync/k3sync/internal/diag"
	"github.com/k3sync/k3sync/internal/untrusted"
)

// removable are the paths of what Fit may turn into a comment: "*" is
// any label, "#" any list index.
var removable = [][]string{
	{"kubernetes", "namespaces", "*"},
	{"kubernetes", "namespaces", "*", "labels", "*"},
	{"kubernetes", "namespaces", "*", "annotations", "*"},
	{"kubernetes", "access", "#"},
	{"kafka", "topics", "*"},
	{"kafka", "topics", "*", "configs", "*"},
	{"kafka", "users", "*"},
	{"kafka", "users", "*", "acls", "#"},
	{"kafka", "users", "*", "quota", "*"},
	{"kong", "services", "*"},
	{"kong", "services", "*", "plugins", "*"},
	{"kong", "services", "*", "routes", "*"},
	{"kong", "services", "*", "routes", "*", "plugins", "*"},
	{"kong", "consumers", "*"},
	{"kong", "consumers", "*", "customId"},
	{"kong", "consumers", "*", "plugins", "*"},
	{"kong", "upstreams", "*"},
	{"kong", "upstreams", "*", "targets", "#"},
}

// maxFitRounds bounds Fit: each round comments out at least one item.
const maxFitRounds = 10

// Fit validates the file with the repo in fsys and turns what the
// platform refuses into "not importable" comments (the deepest item that
// can go: a route for one of its paths, a topic for its replication), as
// many rounds as it takes. It returns what is still refused: errors
// outside what an import may leave out, or in other files.
func (r *Result) Fit(fsys fs.FS) (diag.List, error) {
	if r.root == nil {
		return Validate(fsys, r.tenant, r.File)
	}
	file := FileName(r.tenant)
	for range maxFitRounds {
		errs, err := Validate(fsys, r.tenant, r.File)
		if err != nil || len(errs) == 0 {
			return errs, err
		}
		type cut struct {
			at   target
			msg  string
			kind string
		}
		var cuts []cut
		seen := map[target]bool{}
		for _, e := range errs {
			if e.File != file {
				continue
			}
			at, what, kind, ok := r.root.find(parsePath(e.Path))
			if !ok || seen[at] {
				continue
			}
			seen[at] = true
			cuts = append(cuts, cut{at, fmt.Sprintf("%s: the platform refuses it: %s", what, untrusted.Visible(e.Message)), kind})
		}
		if len(cuts) == 0 {
			return errs, nil
		}
		for _, c := range cuts {
			c.at.cut("not importable: " + c.msg)
			r.NotImportable = append(r.NotImportable, oneLine(c.msg))
			if r.Counts[c.kind] > 0 {
				r.Counts[c.kind]--
			}
		}
		b, err := renderFile(r.header(), r.root)
		if err != nil {
			return nil, err
		}
		r.File = b
	}
	return Validate(fsys, r.tenant, r.File)
}

// target is a field of a struct or an element of a list.
type target struct {
	f    *field
	list *list
	i    int
}

func (t target) cut(comment string) {
	if t.f != nil {
		t.f.label, t.f.value = "", nil
		t.f.comments = append(t.f.comments, comment)
		return
	}
	t.list.elems[t.i] = "// " + oneLine(comment)
	t.list.multiline = true
}

// counted are the kinds Result.Counts has, by the label of their parent.
var counted = map[string]string{
	"namespaces": "namespaces", "access": "access grants", "topics": "topics", "users": "kafka users",
	"services": "services", "routes": "routes", "plugins": "plugins", "consumers": "consumers", "upstreams": "upstreams",
}

// find returns the deepest removable item on path, how to name it and
// the kind Result.Counts has it as ("" when it is not counted).
func (o *obj) find(path []string) (target, string, string, bool) {
	var best target
	var bestWhat, bestKind string
	found := false
	cur := any(o)
	for depth, sel := range path {
		var here target
		var next any
		switch v := cur.(type) {
		case *obj:
			for _, f := range v.fields {
				if f.label == "" || unlabel(f.label) != sel {
					continue
				}
				if l, ok := f.value.(list); ok {
					f.value = &l // cut in place
				}
				here, next = target{f: f}, f.value
				break
			}
		case *list:
			i, err := strconv.Atoi(sel)
			if err != nil {
				break
			}
			n := -1
			for j, e := range v.elems {
				if !strings.HasPrefix(e, "//") {
					n++
				}
				if n == i {
					here, next = target{list: v, i: j}, lit(e)
					break
				}
			}
		}
		if next == nil {
			break
		}
		if matches(path[:depth+1]) {
			best, bestWhat, found = here, describe(path[:depth+1]), true
			bestKind = ""
			if depth > 0 {
				bestKind = counted[path[depth-1]]
			}
		}
		cur = next
	}
	return best, bestWhat, bestKind, found
}

func matches(path []string) bool {
	for _, pat := range removable {
		if len(pat) != len(path) {
			continue
		}
		ok := true
		for i, p := range pat {
			switch p {
			case "*":
			case "#":
				_, err := strconv.Atoi(path[i])
				ok = ok && err == nil
			default:
				ok = ok && p == path[i]
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// describe names an item by its path, labels quoted.
func describe(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			parts[i] = "[" + p + "]"
			continue
		}
		parts[i] = "." + label(p)
	}
	return strings.TrimPrefix(strings.Join(parts, ""), ".")
}

// unlabel is the name a label written by label or quote stands for.
func unlabel(l string) string {
	if strings.HasPrefix(l, `"`) {
		if s, err := literal.Unquote(l); err == nil {
			return s
		}
	}
	return l
}

// parsePath splits an error path as the loader prints it (CUE labels,
// quoted where needed, and bare list indexes, joined by dots).
func parsePath(p string) []string {
	var out []string
	for len(p) > 0 {
		if p[0] == '"' {
			end := 1
			for end < len(p) && p[end] != '"' {
				if p[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(p) {
				return append(out, p)
			}
			s, err := literal.Unquote(p[:end+1])
			if err != nil {
				s = p[:end+1]
			}
			out = append(out, s)
			p = strings.TrimPrefix(p[end+1:], ".")
			continue
		}
		sel, rest, _ := strings.Cut(p, ".")
		out = append(out, sel)
		p = rest
	}
	return out
}
