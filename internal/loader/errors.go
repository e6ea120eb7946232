package loader

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"

	"github.com/k3sync/k3sync/internal/diag"
)

// addCUEErrors converts every CUE error in err to a diag.Error positioned in
// a repo file. Errors whose only positions are in the schema (a missing
// required field) are placed at the closest enclosing value the unit's
// files define.
func (u *unit) addCUEErrors(err error) {
	errs := cueerrors.Errors(err)
	for i := 0; i < len(errs); i++ {
		e := errs[i]
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		path := trimDefinition(e.Path())
		at, found := repoPos(cueerrors.Positions(e))
		if strings.HasSuffix(msg, "errors in empty disjunction:") {
			// CUE lists each failed alternative after this header; say
			// once which value is wrong and what would be accepted.
			var alts []string
			var value string
			for i+1 < len(errs) && slices.Equal(trimDefinition(errs[i+1].Path()), path) {
				i++
				f, a := errs[i].Msg()
				if m := conflict.FindStringSubmatch(fmt.Sprintf(f, a...)); m != nil {
					// "A and B" is alternative and value, except for type
					// mismatches, where CUE puts the value first.
					alt, val := m[1], m[2]
					if m[3] != "" {
						alt, val = val, alt
					}
					alts = append(alts, alt)
					value = val
					if p, ok := repoPos(cueerrors.Positions(errs[i])); ok {
						at, found = p, true
					}
				}
			}
			if len(alts) > 0 {
				msg = fmt.Sprintf("invalid value %s: want one of %s", value, strings.Join(alts, ", "))
			}
		}
		if strings.HasPrefix(msg, "incomplete value ") {
			msg = "missing required value (" + msg + ")"
		}
		if !found {
			at = u.locate(path)
		}
		u.errs.Add(diag.Error{File: at.File, Line: at.Line, Column: at.Column, Path: formatPath(path), Message: msg})
	}
}

// conflict matches CUE's message for one failed disjunction alternative.
var conflict = regexp.MustCompile(`^conflicting values (.+?) and (.+?)( \(mismatched types .*\))?$`)

// trimDefinition drops the schema definition CUE puts first in a path.
func trimDefinition(path []string) []string {
	if len(path) > 0 && (path[0] == "#Tenant" || path[0] == "#Platform") {
		return path[1:]
	}
	return path
}

// repoPos returns the first position that lies in a repo file.
func repoPos(ps []token.Pos) (diag.Position, bool) {
	for _, p := range ps {
		if p.IsValid() && !strings.HasPrefix(p.Filename(), schemaPrefix) {
			return posOf(p), true
		}
	}
	return diag.Position{}, false
}

func posOf(p token.Pos) diag.Position {
	return diag.Position{File: p.Filename(), Line: p.Line(), Column: p.Column()}
}

// locate finds the position of path, or of its closest ancestor, in the
// files of u. The unit's first file, line 1, is the last resort. A unit
// with a cache entry asks it first: the same bytes put a path at the same
// place.
func (u *unit) locate(path []string) diag.Position {
	if u.entry == nil {
		return u.locateOwn(path)
	}
	if pos, ok := u.entry.position(path); ok {
		return pos
	}
	pos := u.locateOwn(path)
	u.entry.setPosition(path, pos)
	return pos
}

// locateOwn is locate, evaluating the unit's files alone.
func (u *unit) locateOwn(path []string) diag.Position {
	for n := len(path); n >= 0; n-- {
		sel := make([]cue.Selector, 0, n)
		for _, s := range path[:n] {
			sel = append(sel, selector(s))
		}
		p := cue.MakePath(sel...)
		for _, own := range u.ownValues() {
			v := own.LookupPath(p)
			if !v.Exists() {
				continue
			}
			if pos, ok := repoPos(valuePositions(v)); ok {
				return pos
			}
		}
	}
	if len(u.files) > 0 {
		return diag.Position{File: u.files[0], Line: 1, Column: 1}
	}
	return diag.Position{}
}

// valuePositions lists the positions of a value's field and expression.
func valuePositions(v cue.Value) []token.Pos {
	var ps []token.Pos
	if src := v.Source(); src != nil {
		ps = append(ps, src.Pos())
	}
	ps = append(ps, v.Pos())
	return ps
}

// selector turns a path element from a CUE error back into a selector.
func selector(s string) cue.Selector {
	switch {
	case strings.HasPrefix(s, "#"):
		return cue.Def(s)
	case isIndex(s):
		n, _ := strconv.Atoi(s)
		return cue.Index(n)
	case strings.HasPrefix(s, `"`):
		if uq, err := unquote(s); err == nil {
			return cue.Str(uq)
		}
	}
	return cue.Str(s)
}

func unquote(s string) (string, error) {
	v, err := literal.Unquote(s)
	if err != nil {
		return "", fmt.Errorf("unquote %s: %w", s, err)
	}
	return v, nil
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// formatPath joins path elements as CUE prints them: identifiers bare,
// anything else quoted.
func formatPath(path []string) string {
	var b strings.Builder
	for i, s := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}
