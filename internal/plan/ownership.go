package plan

import "fmt"

// NotOwnedNote is the note of a change blocked because the resource exists
// and k3sync does not own it; found says what was found, when the target
// knows ("labelled for tenant checkout", "without k3sync's tags"), and may
// be empty.
func NotOwnedNote(found string) string {
	note := "exists, not owned by k3sync"
	if found != "" {
		note += " (" + found + ")"
	}
	return note + ": k3sync neither changes nor deletes it and does not record it as its own; " +
		"way forward: delete it so that k3sync creates it, or let the tenant adopt it (policies: adopt: true)"
}

// NotOwned is the blocked change of a desired resource that exists and
// that k3sync does not own (see NotOwnedNote).
func NotOwned(key Key, level int, found string) Change {
	return Change{Key: key, Action: Blocked, Level: level, Notes: []string{NotOwnedNote(found)}}
}

// InsideNotOwnedNote is the note of a change blocked because the resource
// it lives in or belongs to, parent, is blocked by NotOwned.
func InsideNotOwnedNote(parent Key) string {
	return fmt.Sprintf("%s exists, not owned by k3sync: k3sync creates and changes nothing in it or attached to it, "+
		"so not this either, until that %s is deleted or adopted", parent.Resource(), parent.Kind)
}

// InsideNotOwned is the blocked change of a desired resource that lives
// in, or belongs to, a resource blocked by NotOwned.
func InsideNotOwned(key Key, level int, parent Key) Change {
	return Change{Key: key, Action: Blocked, Level: level, Notes: []string{InsideNotOwnedNote(parent)}}
}

// AdoptedNote is the note of a change that adopts a resource: it exists,
// no tenant's inventory holds it, and the tenant adopts what exists
// (policies.adopt); found says what was found, as for NotOwnedNote.
func AdoptedNote(found string) string {
	note := "exists, not owned by k3sync"
	if found != "" {
		note += " (" + found + ")"
	}
	return note + ": adopted (policies.adopt): recorded in the tenant's inventory and marked as k3sync's; " +
		"from now on k3sync changes it, and deletes it once it leaves Git where the definition allows"
}

// Adopted is the change that adopts a desired resource that exists and
// that no tenant owns; fields are the differences from Git the adoption
// also writes (none: it only records the resource and marks it).
func Adopted(key Key, level int, found string, fields []FieldChange) Change {
	return Change{Key: key, Action: Adopt, Level: level, Fields: fields, Notes: []string{AdoptedNote(found)}}
}
