// Package diag holds the validation errors k3sync reports to users.
//
// # Shape
//
// An Error names a file relative to the repo root, a 1-based line and
// column, the CUE path of the offending value and a message, and prints as
// `FILE:LINE:COL: PATH: message`, the form editors and CI annotators parse,
// always on one line: the parts quote tenant input, whose control
// characters are printed as escapes. JSON keeps the fields as they are.
// A List is always reported whole: sorted by position, de-duplicated.
package diag

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/k3sync/k3sync/internal/untrusted"
)

// Error is one validation error.
type Error struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Error formats the error as FILE:LINE:COL: PATH: message, on one line:
// file names, paths and messages quote tenant input, so their control and
// format characters (newlines, ESC, bidi overrides) are written as escapes
// (untrusted.Visible), for terminals, logs and the tools that parse the
// form line by line.
func (e Error) Error() string {
	return untrusted.Visible(e.raw())
}

func (e Error) raw() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// List is a set of validation errors. The zero value is empty.
type List []Error

// Add appends an error.
func (l *List) Add(e Error) { *l = append(*l, e) }

// Addf appends an error at a position with a formatted message.
func (l *List) Addf(at Position, path, format string, args ...any) {
	l.Add(Error{File: at.File, Line: at.Line, Column: at.Column, Path: path, Message: fmt.Sprintf(format, args...)})
}

// Sorted returns the errors sorted by file, line, column, path and message,
// without duplicates.
func (l List) Sorted() List {
	out := slices.Clone(l)
	slices.SortFunc(out, func(a, b Error) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return slices.Compact(out)
}

// Err returns the sorted list as an error, or nil if it is empty.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l.Sorted()
}

// Error prints one error per line.
func (l List) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Position is a place in a repo file.
type Position struct {
	File   string
	Line   int
	Column int
}
