package serverstore

import (
	"context"
	"errors"
	"time"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/hook"
	"github.com/crumbs-go/session/internal/sid"
)

// The spill-over store (cookiestore.Spill) reads and retires records by
// session ID, and names tombstones' successors as it chooses
// (spec/spill-over-v1.md): these reach it through internal/hook, so that
// nothing is exported for it.
func init() {
	hook.ServerLookup = func(x any, ctx context.Context, id string) (*driver.Record, string, error) {
		return x.(*Store).lookup(ctx, id)
	}
	hook.ServerRetire = func(x any, ctx context.Context, key, successor string, until time.Time) (*driver.Record, string, error) {
		return x.(*Store).retireTo(ctx, key, successor, until)
	}
	hook.ServerCreateOver = func(x any, ctx context.Context, name string, c *driver.Commit, now time.Time, replaces string) (string, error) {
		return x.(*Store).save(ctx, name, c, now, replaces)
	}
	hook.ServerMark = func(x any, ctx context.Context, key, successor, replaces string, blank map[string][]byte, until time.Time) (*driver.Record, string, error) {
		return x.(*Store).mark(ctx, key, successor, replaces, blank, until)
	}
}

// lookup reads the record of id: decoded, or for a tombstone ErrMoved and
// the successor as stored.
func (s *Store) lookup(ctx context.Context, id string) (*driver.Record, string, error) {
	if !sid.Valid(id) {
		return nil, "", errors.New("serverstore: not a session ID")
	}
	e, err := s.backend.Get(ctx, s.Key(id))
	rec, succ, err := s.entry(e, err)
	if rec != nil {
		rec.ID = id
	}
	return rec, succ, err
}

// retireTo tombstones the record under key with successor as given.
func (s *Store) retireTo(ctx context.Context, key, successor string, until time.Time) (*driver.Record, string, error) {
	return s.entry(s.backend.Retire(ctx, key, successor, until))
}

// entry decodes what a Get or a Retire returned: the record, or for a
// tombstone ErrMoved and its successor.
func (s *Store) entry(e *Entry, err error) (*driver.Record, string, error) {
	if errors.Is(err, ErrMoved) {
		if e == nil {
			return nil, "", err
		}
		return nil, e.Successor, err
	}
	if err != nil {
		return nil, "", err
	}
	rec, err := s.decode(e, false)
	if err != nil {
		return nil, "", err
	}
	return rec, "", nil
}

// mark leaves a tombstone naming successor under key, which may hold
// nothing or a tombstone naming replaces: a record holding blank is
// created first (unless one exists, which is retired and returned), then
// retired.
func (s *Store) mark(ctx context.Context, key, successor, replaces string, blank map[string][]byte, until time.Time) (*driver.Record, string, error) {
	e := &Entry{Meta: encodeMeta(&driver.Record{Expires: until}), Values: s.storedValues(blank), Replaces: replaces}
	if err := s.backend.Create(ctx, key, e, until); err != nil && !errors.Is(err, ErrExists) {
		return nil, "", err
	}
	return s.retireTo(ctx, key, successor, until)
}
