// Package source follows one branch of the platform Git repo and serves its
// commits as file systems.
//
// # Bare clone
//
// A [Poller] keeps a bare clone (objects and refs, no work tree) in
// [Config.Dir], made with go-git; git itself can read it (git log, git
// show). The branch is fetched into refs/heads/<branch> and HEAD names it.
// Nothing is ever checked out: the loader reads commits straight from the
// object store through [Poller.FS], so two revisions never fight over one
// folder and a half-written checkout cannot be loaded. The clone survives
// restarts; a poller opened on it resumes where it left.
//
// # Incremental fetch
//
// Each poll fetches +refs/heads/<branch> with the clone's refs as haves,
// so the server sends only the objects the clone lacks: a commit that
// changes one tenant file costs a handful of objects whatever the size of
// the repo. When the branch has not moved the ref advertisement is all
// that is exchanged, and no subscriber is told. The refspec is forced: the
// remote is the truth, force-pushes included. Commits a force-push dropped
// stay in the clone, so the revision last applied can still be read and
// compared. Tags are not fetched. Each fetch is bounded by a timeout
// ([WithTimeout]).
//
// Each fetch that brings commits adds a pack, and go-git searches every
// pack's index for every object read. Once 32 packs pile up they are
// merged into one, keeping every object (git gc would drop the commits a
// force-push left behind); on a repo of 1,000 tenants that takes about
// 150 ms.
//
// # Trees
//
// [Poller.FS] returns a commit's tree as an io/fs file system (ReadDir,
// ReadFile, Stat and ReadLink included) that loader.Load reads as it
// reads a folder. [Poller.Changed] lists the files that differ between two
// commits, skipping equal subtrees, so the daemon re-plans only the
// tenants whose folder changed.
//
// # Schedule and triggers
//
// [Poller.Start] polls at once, then every interval (up to 10% early, so
// replicas do not poll in step). [Poller.Trigger] asks for a poll now, for
// push webhooks; triggers coalesce: any number that arrive while a poll is
// pending or running are answered by one more poll. [Poller.Poll] is one
// synchronous poll, for the CLI and tests. Subscribers learn that the head
// moved through [OnRevision] callbacks, in order, and [Poller.Updates], a
// channel that holds the newest revision.
//
// # Failures
//
// A failed fetch changes nothing in the clone: [Poller.Status] keeps the
// last good revision and reports the error and the number of consecutive
// failures. Start retries after 1s, doubling up to the interval, with
// jitter over the upper half of each wait; the first success resets it. A
// missing branch or ref is [ErrRefNotFound]; a commit not in the clone is
// [ErrUnknownRevision]; go-git's transport errors (e.g.
// transport.ErrAuthenticationRequired) stay reachable with errors.Is.
//
// A process killed in the middle of a fetch can leave a ref file empty
// (go-git rewrites refs in place) and a temporary pack; [New] removes
// both, and the next poll fetches the ref again, instead of every later
// fetch failing.
//
// A clone whose storage is damaged (an object missing, a pack or index
// that does not parse, data that does not inflate) is cloned again rather
// than failing every read of a revision. A poll reads a new head's objects
// whole before handing it out (the first one after start all of them,
// later ones those the last head does not share), and FS and Changed
// report such failures to the poller. The next poll then moves the clone
// to Dir.corrupt (replacing an older one; where it cannot, it empties
// Dir), fetches into a fresh one and serves the revision, with a warning
// and [OnReclone] (the daemon counts k3sync_source_reclones_total). It
// re-clones at most once a poll, and after a re-clone waits the interval,
// doubling up to an hour, before the next: a failing disk costs a clone an
// hour, not one a poll. Network errors and unknown revisions are not
// damage. Refs fetched with FetchRef are fetched again when next asked for.
//
// # Credentials
//
// [Auth] carries HTTP basic credentials or a token, or an SSH key checked
// against known hosts (there is no way to skip host key checking).
// Credentials written in an http(s) URL are moved out of it, so go-git
// never prints them; every error message and Status also has URL
// credentials and the configured secrets removed.
//
// # Pull requests
//
// [Poller.FetchRef] fetches any ref, such as refs/pull/7/head, into
// refs/k3sync/pull/7/head of the clone, without touching the branch, the
// status or the subscribers; [Poller.ForgetRef] drops it once the pull
// request is closed.
//
// # Concurrency
//
// go-git's storage is not safe for concurrent use. Fetches are serialized
// and write through their own view of the clone; FS and Changed read
// through another, guarded by a lock held only while objects are read,
// so loading a tree never waits for the network.
package source
