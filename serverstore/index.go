package serverstore

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/errs"
	"github.com/crumbs-go/session/internal/timex"
)

// A Binding is what a record bound to a user keeps besides its header and
// values (spec/server-id-v1.md §7): the user, when the session was created
// under this ID and last written, and, where the operator opted in
// (WithClientDetails), the User-Agent and address of the request that
// created it.
type Binding struct {
	User          string
	Created, Seen time.Time
	Agent, Addr   string
}

// A UserIndex is a Backend that keeps a per-user index of the records bound
// to a user: Create adds a record whose Entry has a Binding, Apply moves its
// place (Write.User, Write.Seen, Write.Until) and binds a record that has
// no binding yet (Write.Binding), and Retire, Delete and expiry take it
// out, so that the index never holds more than the user's live records
// and what expired since its last write (spec/server-id-v1.md §7.2).
type UserIndex interface {
	// Bound returns the live records bound to user, by key, each with its
	// Binding (Seen included).
	Bound(ctx context.Context, user string) (map[string]*Binding, error)
}

// WithClientDetails keeps the User-Agent and client address of the request
// that created a session bound to a user, for an "active sessions" page
// (driver.Listing). Off by default: they are personal data, kept only where
// the operator chose to (and said so to its users). The address is the
// connection's peer, or with session.WithTrustProxy the right-most
// X-Forwarded-For entry.
func WithClientDetails() Option { return func(c *config) error { c.details = true; return nil } }

// handleKey derives the key that names sessions in listings from the
// primary secret (spec/server-id-v1.md §7.3).
func handleKey(secret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, nil, "github.com/crumbs-go/session/v1/handle", 32)
}

// handleOfKey is the handle of the record stored under key: 22 base64url
// characters of HMAC-SHA256(handle key, key).
func (s *Store) handleOfKey(key string) string {
	m := hmac.New(sha256.New, s.handleKey)
	m.Write([]byte(key))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Handle returns the handle of the session whose ID is id: what a listing
// names it by. It is not the ID, and a backend key cannot be computed from
// it.
func (s *Store) Handle(id string) string { return s.handleOfKey(s.Key(id)) }

func (s *Store) index() (UserIndex, error) {
	x, ok := s.backend.(UserIndex)
	if !ok {
		return nil, fmt.Errorf("serverstore: the %T backend keeps no per-user index: %w", s.backend, errors.ErrUnsupported)
	}
	return x, nil
}

// Sessions lists the live sessions bound to user, oldest first (one round
// trip per backend call: two on Redis). With user "" it answers at once:
// nil, or an error wrapping errors.ErrUnsupported when the backend keeps
// no index.
func (s *Store) Sessions(ctx context.Context, user string, now time.Time) ([]driver.Listing, error) {
	x, err := s.index()
	if err != nil || user == "" {
		return nil, err
	}
	bound, err := x.Bound(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]driver.Listing, 0, len(bound))
	for key, b := range bound {
		if b.User != user {
			continue
		}
		out = append(out, driver.Listing{Handle: s.handleOfKey(key), Created: b.Created, Seen: b.Seen, Agent: b.Agent, Addr: b.Addr})
	}
	slices.SortFunc(out, func(a, b driver.Listing) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Handle, b.Handle)
	})
	return out, nil
}

// End deletes the session of user named by handle.
func (s *Store) End(ctx context.Context, user, handle string, now time.Time) (bool, error) {
	n, err := s.end(ctx, user, func(h string) bool { return h == handle }, "")
	return n > 0, err
}

// EndAll deletes every session of user except the one named by keep. A
// keep that names none of user's sessions (a parallel request moved or
// ended the session to keep, so that its request holds a retired ID) ends
// nothing, and returns an error wrapping driver.ErrMoved: ending all would
// end the session the browser now holds.
func (s *Store) EndAll(ctx context.Context, user, keep string, now time.Time) (int, error) {
	return s.end(ctx, user, func(h string) bool { return keep == "" || h != keep }, keep)
}

// end deletes user's sessions whose handle matches; keep, if not "", must
// name one of them.
func (s *Store) end(ctx context.Context, user string, match func(handle string) bool, keep string) (int, error) {
	x, err := s.index()
	if err != nil {
		return 0, err
	}
	if user == "" {
		return 0, nil
	}
	bound, err := x.Bound(ctx, user)
	if err != nil {
		return 0, err
	}
	if keep != "" {
		found := false
		for key, b := range bound {
			found = found || b.User == user && s.handleOfKey(key) == keep
		}
		if !found {
			return 0, fmt.Errorf("serverstore: the session to keep is not one of %q's sessions (another request moved or ended it): %w", user, driver.ErrMoved)
		}
	}
	n := 0
	for key, b := range bound {
		if b.User != user || !match(s.handleOfKey(key)) {
			continue
		}
		// A Regenerate may have moved the session since the listing: follow
		// the tombstone, as a Delete does, but never into the session to
		// keep (an index that lags its table, as DynamoDB's, lists an ID
		// a rotation retired beside the one it moved to).
		next, kept := key, false
		for range maxChain {
			if keep != "" {
				// A tombstone that names the session to keep stays: a
				// request that overlapped the rotation must still find it
				// moved, not gone, and leave the new cookie alone.
				e, err := s.backend.Get(ctx, next)
				if errors.Is(err, ErrMoved) && e != nil && s.handleOfKey(parseTombstone(e.Successor).key) == keep {
					kept = true
					break
				}
			}
			raw, err := s.backend.Delete(ctx, next)
			if err != nil {
				return n, err
			}
			if raw == "" {
				break
			}
			next = parseTombstone(raw).key
			if keep != "" && s.handleOfKey(next) == keep {
				kept = true
				break
			}
		}
		if !kept {
			n++
		}
	}
	return n, nil
}

// The stored binding (spec/server-id-v1.md §7.1).
const bindingV1 = 1

// EncodeBinding is b as a Backend stores it, Seen apart (spec/server-id-v1.md
// §7.1): for Backends that keep it as bytes.
func EncodeBinding(b *Binding) []byte {
	user, agent, addr := cut(b.User), cut(b.Agent), cut(b.Addr)
	out := make([]byte, 0, 1+8+3+len(user)+len(agent)+len(addr))
	out = append(out, bindingV1)
	created, _ := timex.Unix(b.Created)
	out = binary.BigEndian.AppendUint64(out, created)
	for _, s := range [...]string{user, agent, addr} {
		out = append(out, byte(len(s)))
		out = append(out, s...)
	}
	return out
}

// DecodeBinding reads what EncodeBinding wrote, with seen, the stored
// last-seen time in Unix seconds.
func DecodeBinding(p []byte, seen uint64) (*Binding, error) {
	bad := errs.Reason("serverstore: malformed stored binding")
	if len(p) < 1+8+3 || p[0] != bindingV1 || seen > 1<<62 {
		return nil, bad
	}
	created := binary.BigEndian.Uint64(p[1:])
	if created > 1<<62 {
		return nil, bad
	}
	p = p[9:]
	var parts [3]string
	for i := range parts {
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return nil, bad
		}
		n := 1 + int(p[0]) // in int: 1+p[0] in byte wraps to 0 for a length of 255
		parts[i], p = string(p[1:n]), p[n:]
	}
	if len(p) != 0 || parts[0] == "" {
		return nil, bad
	}
	return &Binding{User: parts[0], Created: timex.FromUnix(created), Seen: timex.FromUnix(seen), Agent: parts[1], Addr: parts[2]}, nil
}

// cut shortens s to at most 255 bytes, dropping a character the cut split.
func cut(s string) string {
	if len(s) <= 255 {
		return s
	}
	return strings.ToValidUTF8(s[:255], "")
}
