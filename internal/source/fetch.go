package source

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// remoteName names the remote in go-git's fetch; it is never written to
// the clone's config.
const remoteName = "origin"

// localPrefix is where FetchRef keeps fetched refs in the clone.
const localPrefix = "refs/k3sync/"

// Poll fetches the branch once and returns its head. The status and
// subscribers are updated as for a poll of Start. When the fetch fails the
// error is redacted and the last good revision stays in Status.
func (p *Poller) Poll(ctx context.Context) (Revision, error) {
	p.fetchMu.Lock()
	rev, err := p.fetchHead(ctx)
	// Hand over to notifyMu before releasing fetchMu: revisions reach
	// subscribers in the order they were fetched.
	p.notifyMu.Lock()
	p.fetchMu.Unlock()
	defer p.notifyMu.Unlock()
	if err != nil && ctx.Err() != nil {
		// The caller gave up (the daemon is stopping): not a failure of
		// the remote.
		return Revision{}, err
	}
	p.record(rev, err)
	if err != nil {
		return Revision{}, err
	}
	return rev, nil
}

// fetchBranch fetches the branch into refs/heads/<branch> of the clone.
// A clone found corrupt, by a reader since the last poll or by this fetch
// (which reads a new head whole before handing it out), is cloned again,
// at most once a poll and no sooner than the re-clone backoff allows
// (repair.go). Callers hold fetchMu.
func (p *Poller) fetchBranch(ctx context.Context) (Revision, error) {
	recloned := false
	if cause := p.damaged.Load(); cause != nil {
		if !p.mayReclone(time.Now()) {
			p.log.Warn("git clone corrupt: re-clone postponed", "dir", p.cfg.Dir, "until", p.recloneAt.UTC().Format(time.RFC3339), "error", (*cause).Error())
		} else {
			if err := p.reclone(*cause); err != nil {
				return Revision{}, err
			}
			recloned = true
		}
	}
	rev, err := p.fetchBranchOnce(ctx, recloned)
	if corrupt(err) && !recloned && p.mayReclone(time.Now()) {
		if err := p.reclone(err); err != nil {
			return Revision{}, err
		}
		rev, err = p.fetchBranchOnce(ctx, true)
	}
	if corrupt(err) {
		p.noteRead(err)
	}
	return rev, err
}

// fetchBranchOnce fetches the branch and, when its head is new to this
// poller or verifyAll is set, reads the head's tree whole. Callers hold
// fetchMu.
func (p *Poller) fetchBranchOnce(ctx context.Context, verifyAll bool) (Revision, error) {
	branch := plumbing.NewBranchReferenceName(p.cfg.Branch)
	if err := p.fetch(ctx, branch, branch); err != nil {
		return Revision{}, fmt.Errorf("git source %s: fetch branch %s: %w", p.remote.url, p.cfg.Branch, err)
	}
	rev, err := p.resolve(branch)
	if err != nil {
		return Revision{}, fmt.Errorf("git source %s: branch %s: %w", p.remote.url, p.cfg.Branch, err)
	}
	if verifyAll || rev.Hash != p.Status().Last.Hash {
		if err := p.verify(rev.Hash); err != nil {
			return Revision{}, fmt.Errorf("git source %s: branch %s: %w: %w", p.remote.url, p.cfg.Branch, errCorrupt, err)
		}
	}
	return rev, nil
}

// FetchRef fetches ref (e.g. refs/pull/7/head) into the clone as
// refs/k3sync/<ref without "refs/"> and returns its head, which FS and
// Changed can then read. The followed branch, Status and subscribers are
// not affected.
func (p *Poller) FetchRef(ctx context.Context, ref string) (Revision, error) {
	name, local, err := refNames(ref)
	if err != nil {
		return Revision{}, err
	}
	p.fetchMu.Lock()
	defer p.fetchMu.Unlock()
	if err := p.fetch(ctx, name, local); err != nil {
		return Revision{}, fmt.Errorf("git source %s: fetch %s: %w", p.remote.url, ref, err)
	}
	rev, err := p.resolve(local)
	if err != nil {
		return Revision{}, fmt.Errorf("git source %s: %s: %w", p.remote.url, ref, err)
	}
	return rev, nil
}

// ForgetRef removes the clone's copy of a ref fetched by FetchRef, e.g.
// when its pull request is closed. Forgetting a ref never fetched is not
// an error.
func (p *Poller) ForgetRef(ref string) error {
	_, local, err := refNames(ref)
	if err != nil {
		return err
	}
	p.fetchMu.Lock()
	defer p.fetchMu.Unlock()
	if err := p.repo.Storer.RemoveReference(local); err != nil {
		return fmt.Errorf("git source %s: forget %s: %w", p.cfg.Dir, ref, err)
	}
	return nil
}

// refNames checks a ref name given to FetchRef and names its local copy.
// Every ref keeps its full name under refs/k3sync/: shortening
// refs/pull/7/head to refs/k3sync/pull/7 would make it collide with
// refs/pull/7/merge, as a ref cannot be both a file and a folder.
func refNames(ref string) (remote, local plumbing.ReferenceName, err error) {
	remote = plumbing.ReferenceName(ref)
	if !strings.HasPrefix(ref, "refs/") || strings.HasPrefix(ref, localPrefix) || remote.Validate() != nil {
		return "", "", fmt.Errorf("git source: ref %q: want a full ref name such as refs/pull/7/head", ref)
	}
	return remote, plumbing.ReferenceName(localPrefix + strings.TrimPrefix(ref, "refs/")), nil
}

// fetch fetches remoteRef into localRef, forced: the remote is the truth,
// force-pushes included. go-git sends the clone's refs as haves, so only
// new objects are transferred; when the remote ref has not moved the ref
// advertisement is all that is exchanged. Callers hold fetchMu.
func (p *Poller) fetch(ctx context.Context, remoteRef, localRef plumbing.ReferenceName) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", remoteRef, localRef))
	st, ok := p.repo.Storer.(*filesystem.Storage)
	if !ok {
		return fmt.Errorf("the clone's storage is a %T", p.repo.Storer)
	}
	rem := git.NewRemote(guardedStorage{Storage: st, maxObject: cmp.Or(p.cfg.MaxObjectBytes, DefaultMaxObjectBytes)}, &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{p.remote.url},
		Fetch: []config.RefSpec{spec},
	})
	err := rem.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{spec},
		Auth:       p.remote.auth,
		Tags:       git.NoTags,
		Force:      true,
		CABundle:   p.caBundle,
	})
	switch {
	case errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		return ErrRefNotFound
	case err != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %s: %w", p.timeout, p.remote.redactErr(err))
		}
		return p.remote.redactErr(err)
	}
	// The fetch wrote a pack the readers' storage has not indexed yet.
	p.readMu.Lock()
	p.objects.Reindex()
	p.readMu.Unlock()
	if err := p.compact(); err != nil {
		// The fetch succeeded; reads are only slower until the next try.
		p.log.Warn("git clone compaction failed", "dir", p.cfg.Dir, "error", err)
	}
	return nil
}

// resolve reads the commit ref points at, peeling annotated tags.
// Callers hold fetchMu.
func (p *Poller) resolve(ref plumbing.ReferenceName) (Revision, error) {
	r, err := p.repo.Storer.Reference(ref)
	if err != nil {
		return Revision{}, fmt.Errorf("read ref %s: %w", ref, err)
	}
	obj, err := p.repo.Object(plumbing.AnyObject, r.Hash())
	if err != nil {
		return Revision{}, fmt.Errorf("read %s: %w", r.Hash(), err)
	}
	for {
		switch o := obj.(type) {
		case *object.Commit:
			return revisionOf(o), nil
		case *object.Tag:
			if obj, err = o.Object(); err != nil {
				return Revision{}, fmt.Errorf("peel tag %s: %w", o.Hash, err)
			}
		default:
			return Revision{}, fmt.Errorf("%s is a %s, not a commit", r.Hash(), obj.Type())
		}
	}
}

func revisionOf(c *object.Commit) Revision {
	subject, _, _ := strings.Cut(c.Message, "\n")
	return Revision{
		Hash:        c.Hash.String(),
		Subject:     strings.TrimSpace(subject),
		Author:      c.Author.Name,
		AuthorEmail: c.Author.Email,
		Time:        c.Committer.When,
	}
}

// record updates the status and tells subscribers when the head moved.
// Callers hold notifyMu.
func (p *Poller) record(rev Revision, err error) {
	now := time.Now()
	p.mu.Lock()
	prev := p.status
	p.status.LastAttempt = now
	if err != nil {
		p.status.LastError = err.Error()
		p.status.ConsecutiveFailures++
		failures := p.status.ConsecutiveFailures
		p.mu.Unlock()
		p.log.Warn("git fetch failed", "url", p.remote.url, "branch", p.cfg.Branch,
			"failures", failures, "last", prev.Last.Hash, "error", err.Error())
		return
	}
	p.status = Status{Last: rev, LastFetch: now, LastAttempt: now}
	p.mu.Unlock()
	if prev.ConsecutiveFailures > 0 {
		p.log.Info("git fetch recovered", "url", p.remote.url, "branch", p.cfg.Branch, "failures", prev.ConsecutiveFailures)
	}
	if rev.Hash == prev.Last.Hash {
		p.log.Debug("git branch unchanged", "url", p.remote.url, "branch", p.cfg.Branch, "revision", rev.Hash)
		return
	}
	p.log.Info("git branch moved", "url", p.remote.url, "branch", p.cfg.Branch,
		"from", prev.Last.Hash, "revision", rev.Hash, "subject", rev.Subject)
	for _, fn := range p.callbacks {
		fn(rev)
	}
	// The channel holds the newest revision only; this is its one sender.
	select {
	case <-p.updates:
	default:
	}
	p.updates <- rev
}
