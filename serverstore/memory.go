package serverstore

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/params"
)

// The memory store's configuration string: "memory", or with parameters
// "memory?crumbs_max_entries=10000&crumbs_client_details=true&crumbs_grace=10s".
// crumbs_raw_ids=true is accepted and changes nothing: the memory backend
// is always keyed by raw IDs (WithRawIDs); crumbs_raw_ids=false is refused.
func init() {
	driver.Register("memory", func(_ context.Context, cfg string, secrets [][]byte) (driver.Store, error) {
		rest, ok := strings.CutPrefix(cfg, "memory")
		if !ok || (rest != "" && rest[0] != '?') {
			return nil, errors.New("serverstore: the memory store's configuration string is \"memory\" or \"memory?crumbs_max_entries=N&crumbs_client_details=true&crumbs_grace=10s\"")
		}
		q, err := url.ParseQuery(strings.TrimPrefix(rest, "?"))
		if err != nil {
			return nil, errors.New("serverstore: the memory store's parameters are not a URL query: separate them with '&', and write a '%' as %25")
		}
		var mopts []MemoryOption
		var opts []Option
		const pkg = "serverstore"
		err = params.Each(pkg, q, func(string) bool { return true }, func(name, v string) error {
			switch name {
			case "crumbs_max_entries":
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return params.Bad(pkg, name, v, "a number of sessions, 1 or more")
				}
				mopts = append(mopts, WithMaxEntries(n))
			case "crumbs_raw_ids", "crumbs_client_details":
				on, err := params.Bool(pkg, name, v)
				if err != nil {
					return err
				}
				if !on && name == "crumbs_raw_ids" {
					return fmt.Errorf("serverstore: crumbs_raw_ids=false: the memory store is always keyed by raw IDs (its keys never leave the process, which holds the secrets too); drop the parameter")
				} else if name == "crumbs_raw_ids" {
					opts = append(opts, WithRawIDs())
				} else if on {
					opts = append(opts, WithClientDetails())
				}
			case "crumbs_grace":
				d, err := params.Duration(pkg, name, v, 0)
				if err != nil {
					return err
				}
				opts = append(opts, WithGrace(d))
			default:
				return fmt.Errorf("serverstore: unknown parameter %q of the memory store (its parameters are crumbs_max_entries, crumbs_raw_ids, crumbs_client_details, crumbs_grace)", name)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return New(NewMemory(mopts...), secrets, opts...)
	})
}

// DefaultMaxEntries is the default capacity of a Memory backend.
const DefaultMaxEntries = 100_000

// Memory is the embedded Backend: a map in this process, for development,
// tests and single-instance deployments. Sessions do not survive a restart
// and are not shared between instances.
//
// It is bounded (WithMaxEntries). At capacity, storing a new session first
// removes the expired ones, then evicts the least recently used session of
// the lowest of three ranks:
//
//  1. sessions not used since the request that created them: bots, first
//     visits, anonymous churn;
//  2. sessions used again by a later request;
//  3. signed-in sessions: those a Regenerate (a login) moved to a new ID.
//
// So a flood of one-request sessions evicts only its own kind, and signed-in
// users go last. Tombstones (the IDs a Regenerate retired, kept a while so
// that a request still carrying the pre-login cookie does not undo the
// login) do not count against the bound and are never evicted for
// a session; at most as many as the bound are kept, the oldest going first.
// Expired entries are also removed as writes pass by and whenever they are
// read; Memory starts no goroutine and needs no Close. It is safe for
// concurrent use.
//
// A session takes its values' bytes and two small maps: its stored values,
// and a decoded view that a Store's reads clone instead of copying every
// value (about 400 bytes for three small values; a session holding a
// value that is stored compressed has none). 50,000 sessions of three
// small values, each read once, take about 56 MB of heap.
type Memory struct {
	mu       sync.Mutex
	entries  map[string]*memEntry
	byTime   expiryHeap
	ranks    [rankTombstone + 1]lruList        // least recently used at the back
	sessions int                               // entries that are not tombstones
	users    map[string]map[*memEntry]struct{} // the per-user index: live bound entries
	max      int
	now      func() time.Time
}

// The eviction ranks of an entry; the lowest goes first.
const (
	rankNew      = iota // not used since it was created
	rankUsed            // used by a later request
	rankSignedIn        // the successor of a Regenerate
	rankTombstone
)

type memEntry struct {
	key    string
	meta   []byte
	values map[string][]byte // as stored; a value's bytes never change
	// view is values decoded, for the Store's reads: each raw (tag 0)
	// value without its tag, sharing its bytes. Built on the first read
	// after it is dropped, kept up to date by apply's sets, dropped by its
	// deletes and Clears (a map keeps the capacity of its largest size,
	// which every clone would copy), nil when some value is compressed
	// (noView): those reads decode a copy each time. It costs a second
	// map per session that was read: about 400 bytes for three small
	// values (BENCHMARKS.md, "The third cut").
	view       map[string][]byte
	noView     bool
	bind       *Binding // nil when bound to no user
	moved      bool     // a tombstone: the ID was retired by a Regenerate
	next       string   // for a tombstone: the key of the session it moved to
	expires    time.Time
	index      int // in byTime
	rank       int
	prev, succ *memEntry // in ranks[rank]
}

// A MemoryOption configures a Memory backend.
type MemoryOption func(*Memory)

// WithMaxEntries bounds the number of sessions kept; n < 1 means the
// default, DefaultMaxEntries.
func WithMaxEntries(n int) MemoryOption {
	return func(m *Memory) {
		if n >= 1 {
			m.max = n
		}
	}
}

// WithClock replaces the backend's clock, by which records expire: for
// tests that move time forward (with session.WithClock on the Manager).
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) {
		if now != nil {
			m.now = now
		}
	}
}

// NewMemory returns an empty Memory backend.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{entries: map[string]*memEntry{}, users: map[string]map[*memEntry]struct{}{}, max: DefaultMaxEntries, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	return m
}

var (
	_ Backend   = (*Memory)(nil)
	_ Counter   = (*Memory)(nil)
	_ Clearer   = (*Memory)(nil)
	_ Iterator  = (*Memory)(nil)
	_ UserIndex = (*Memory)(nil)
)

// lruList is a list of entries, most recently used at the front.
type lruList struct {
	head, tail *memEntry
	n          int
}

// pushBack puts e at the least recently used end.
func (l *lruList) pushBack(e *memEntry) {
	l.n++
	e.prev, e.succ = l.tail, nil
	if l.tail != nil {
		l.tail.succ = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *lruList) pushFront(e *memEntry) {
	l.n++
	e.prev, e.succ = nil, l.head
	if l.head != nil {
		l.head.prev = e
	} else {
		l.tail = e
	}
	l.head = e
}

func (l *lruList) unlink(e *memEntry) {
	l.n--
	if e.prev != nil {
		e.prev.succ = e.succ
	} else {
		l.head = e.succ
	}
	if e.succ != nil {
		e.succ.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.succ = nil, nil
}

// rerank moves e to the front of rank r.
func (m *Memory) rerank(e *memEntry, r int) {
	m.ranks[e.rank].unlink(e)
	if e.rank == rankTombstone && r != rankTombstone {
		m.sessions++
	} else if e.rank != rankTombstone && r == rankTombstone {
		m.sessions--
	}
	e.rank = r
	m.ranks[r].pushFront(e)
}

// used marks e as used by a request after the one that created it.
func (m *Memory) used(e *memEntry) {
	m.rerank(e, max(e.rank, rankUsed))
}

// live returns the unexpired entry under key, removing it if expired.
func (m *Memory) live(key string, now time.Time) *memEntry {
	e, ok := m.entries[key]
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		m.remove(e)
		return nil
	}
	return e
}

// record returns the live, unretired entry under key.
func (m *Memory) record(key string) (*memEntry, error) {
	e := m.live(key, m.now())
	switch {
	case e == nil:
		return nil, ErrNotFound
	case e.moved:
		return nil, ErrMoved
	}
	return e, nil
}

func (m *Memory) remove(e *memEntry) {
	m.unbind(e)
	heap.Remove(&m.byTime, e.index)
	delete(m.entries, e.key)
	m.ranks[e.rank].unlink(e)
	if e.rank != rankTombstone {
		m.sessions--
	}
}

// bind binds e to a copy of b and adds it to the per-user index.
func (m *Memory) bind(e *memEntry, b *Binding) {
	c := *b
	e.bind = &c
	set := m.users[c.User]
	if set == nil {
		set = map[*memEntry]struct{}{}
		m.users[c.User] = set
	}
	set[e] = struct{}{}
}

// unbind takes e out of the per-user index.
func (m *Memory) unbind(e *memEntry) {
	if e.bind == nil {
		return
	}
	if set := m.users[e.bind.User]; set != nil {
		delete(set, e)
		if len(set) == 0 {
			delete(m.users, e.bind.User)
		}
	}
	e.bind = nil
}

// evict makes room for one more entry of rank r: expired entries first,
// then the least recently used of the lowest rank.
func (m *Memory) evict(r int, now time.Time) {
	for m.byTime.Len() > 0 && !now.Before(m.byTime[0].expires) && m.full(r) {
		m.remove(m.byTime[0])
	}
	if r == rankTombstone {
		for m.full(r) {
			m.remove(m.ranks[rankTombstone].tail)
		}
		return
	}
	for m.full(r) {
		for rank := rankNew; rank < rankTombstone; rank++ {
			if e := m.ranks[rank].tail; e != nil {
				m.remove(e)
				break
			}
		}
	}
}

// full reports whether the entries of rank r's kind are at the bound.
func (m *Memory) full(r int) bool {
	if r == rankTombstone {
		return len(m.entries)-m.sessions >= m.max
	}
	return m.sessions >= m.max
}

// sweep removes a few expired entries, oldest first: every write pays for
// the cleanup of at most a handful.
func (m *Memory) sweep(now time.Time) {
	for i := 0; i < 8 && m.byTime.Len() > 0 && !now.Before(m.byTime[0].expires); i++ {
		m.remove(m.byTime[0])
	}
}

// rawView is e.view, built if need be; nil when some value is not raw.
func (e *memEntry) rawView() map[string][]byte {
	if e.view != nil || e.noView {
		return e.view
	}
	for _, v := range e.values {
		if len(v) == 0 || v[0] != tagRaw {
			e.noView = true
			return nil
		}
	}
	view := make(map[string][]byte, len(e.values))
	for k, v := range e.values {
		view[k] = v[1:len(v):len(v)]
	}
	e.view = view
	return view
}

// copyInto gives out the entry's meta and values in one buffer of their own,
// each slice capped at its length (an append to one reallocates instead
// of overwriting the next): one allocation for the bytes, not one a value.
//
// With decode (the Store's reads of a record that has no view), a value
// comes out decoded, as the codec wrote it: a raw one (tag 0) is copied
// without its tag into the buffer, any other goes through decode, which
// makes a buffer of its own. This spares the Store a second pass over the
// map.
func (e *memEntry) copyInto(out *Entry, decode func([]byte) ([]byte, error)) error {
	n := len(e.meta)
	for _, v := range e.values {
		if decode == nil || len(v) > 0 && v[0] == tagRaw {
			n += len(v)
		}
	}
	buf := make([]byte, 0, n)
	take := func(v []byte) []byte {
		if v == nil {
			return nil
		}
		at := len(buf)
		buf = append(buf, v...)
		return buf[at:len(buf):len(buf)]
	}
	out.Meta, out.Values = take(e.meta), make(map[string][]byte, len(e.values))
	if e.bind != nil {
		b := *e.bind
		out.Binding = &b
	}
	for k, v := range e.values {
		switch {
		case decode == nil:
			out.Values[k] = take(v)
		case len(v) > 0 && v[0] == tagRaw:
			out.Values[k] = take(v[1:])
		default:
			d, err := decode(v)
			if err != nil {
				return fmt.Errorf("serverstore: stored value %q: %w", k, err)
			}
			out.Values[k] = d
		}
	}
	return nil
}

// ContextBound reports true: no call of the memory backend waits on
// anything but its own short locks.
func (m *Memory) ContextBound() bool { return true }

// Get returns a copy of the record.
func (m *Memory) Get(_ context.Context, key string) (*Entry, error) {
	out := new(Entry)
	if err := m.getInto(key, out, nil); err != nil {
		if errors.Is(err, ErrMoved) {
			return out, err
		}
		return nil, err
	}
	return out, nil
}

// getInto is Get into out: a copy of the record (copyInto), or for ErrMoved
// the Successor its tombstone names. With decode, the Store's reads: the
// values come out decoded, and when the entry has a view, only the map is
// the caller's: the meta and the values' bytes are the entry's, shared
// with other reads, and must never be written into.
func (m *Memory) getInto(key string, out *Entry, decode func([]byte) ([]byte, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.record(key)
	if errors.Is(err, ErrMoved) {
		out.Successor = m.entries[key].next
		return err
	}
	if err != nil {
		return err
	}
	m.used(e)
	if decode != nil {
		if view := e.rawView(); view != nil {
			// The Store's read: the map is the caller's, the bytes are
			// shared, as neither the entry nor the Store ever writes into
			// a value or a meta (apply replaces them).
			out.Meta, out.Values = e.meta, maps.Clone(view)
			if e.bind != nil {
				b := *e.bind
				out.Binding = &b
			}
			return nil
		}
	}
	return e.copyInto(out, decode)
}

// Create stores a copy of e.
func (m *Memory) Create(_ context.Context, key string, e *Entry, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if cur := m.live(key, now); cur != nil {
		if e.Replaces == "" || !cur.moved || cur.next != e.Replaces {
			return ErrExists
		}
		m.remove(cur)
	}
	m.evict(rankNew, now)
	n := &memEntry{key: key, meta: bytes.Clone(e.Meta), values: make(map[string][]byte, len(e.Values)), expires: expires, rank: rankNew}
	for k, v := range e.Values {
		n.values[k] = bytes.Clone(v)
	}
	if e.Binding != nil && e.Binding.User != "" {
		m.bind(n, e.Binding)
	}
	m.entries[key] = n
	heap.Push(&m.byTime, n)
	m.ranks[rankNew].pushFront(n)
	m.sessions++
	return nil
}

// Apply changes the record under the lock: checks first, then writes.
func (m *Memory) Apply(_ context.Context, key string, w *Write) ([]byte, error) {
	meta, err := m.apply(key, w, false)
	return bytes.Clone(meta), err
}

// apply is Apply; with owned, the Store hands over w's values (made for
// this write alone, never touched again) and gets the stored meta itself,
// which it only reads: a meta is never changed in place (MergeHeader makes
// a new one), so neither needs a copy.
func (m *Memory) apply(key string, w *Write, owned bool) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(m.now())
	e, err := m.record(key)
	if err != nil {
		return nil, err
	}
	if w.Convert {
		return nil, ErrConverted // memory never holds format-1 records
	}
	var conflict *driver.ConflictError
	for _, c := range w.Changes {
		if !c.Check {
			continue
		}
		cur, ok := e.values[c.Key]
		if ok != c.HadOld || ok && !bytes.Equal(cur, c.Old) {
			conflict = &driver.ConflictError{Values: map[string][]byte{}}
			break
		}
	}
	if conflict != nil {
		for _, c := range w.Changes {
			if cur, ok := e.values[c.Key]; c.Check && ok {
				conflict.Values[c.Key] = bytes.Clone(cur)
			}
		}
		return nil, conflict
	}
	var expires time.Time
	e.meta, expires = mergeHeader(e.meta, w, owned)
	e.noView = false // rawView looks again
	if w.Clear {
		clear(e.values)
		e.view = nil // rebuilt at its new size: a clone copies the whole table
	}
	for _, c := range w.Changes {
		if c.Delete {
			delete(e.values, c.Key)
			e.view = nil // likewise
			continue
		}
		v := c.Value
		if !owned {
			v = bytes.Clone(v)
		}
		e.values[c.Key] = v
		if e.view == nil {
			continue
		}
		if len(v) > 0 && v[0] == tagRaw {
			e.view[c.Key] = v[1:len(v):len(v)]
		} else {
			e.view, e.noView = nil, true
		}
	}
	if e.bind == nil && w.Binding != nil && w.Binding.User != "" {
		m.bind(e, w.Binding) // a session bound after it was created
	}
	if e.bind != nil && w.User != "" && !w.Seen.IsZero() {
		e.bind.Seen = w.Seen
	}
	e.expires = expires
	heap.Fix(&m.byTime, e.index)
	m.used(e)
	return e.meta, nil
}

// Retire replaces the record by a tombstone and returns what it held.
func (m *Memory) Retire(_ context.Context, key, successor string, until time.Time) (*Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now() // one reading: what is live now stays live throughout
	e := m.live(key, now)
	switch {
	case e == nil:
		return nil, ErrNotFound
	case e.moved:
		return &Entry{Successor: e.next}, ErrMoved
	}
	// Room for one more tombstone first: e is a live session, which the
	// eviction of tombstones and of entries expired at now leaves alone.
	m.evict(rankTombstone, now)
	// A copy: the entry's bytes may still be read by requests that loaded
	// it through the view, and what Retire returns is the caller's.
	out := new(Entry)
	e.copyInto(out, nil) // without decode: no error
	m.unbind(e)
	m.rerank(e, rankTombstone)
	e.meta, e.values, e.view, e.moved, e.next, e.expires = nil, nil, nil, true, successor, until
	heap.Fix(&m.byTime, e.index)
	next := parseTombstone(successor).key // the key, without a grace mark
	if s := m.live(next, now); s != nil && !s.moved {
		m.rerank(s, rankSignedIn) // a login: the last to be evicted
		// Signed-in sessions keep at most half the bound, so that one
		// more login never has to evict the session it is logging in
		// (used by this very request): the least recently used of them
		// becomes an ordinary used session, first of those to go.
		for m.ranks[rankSignedIn].n > max(m.max/2, 1) {
			old := m.ranks[rankSignedIn].tail
			m.rerank(old, rankUsed)
			m.ranks[rankUsed].unlink(old)
			m.ranks[rankUsed].pushBack(old)
		}
	}
	return out, nil
}

// Delete removes key and returns the successor a tombstone named.
func (m *Memory) Delete(_ context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok {
		m.remove(e)
		if e.moved {
			return e.next, nil
		}
	}
	return "", nil
}

// Count returns the number of live records (tombstones are not sessions).
func (m *Memory) Count(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for m.byTime.Len() > 0 && !now.Before(m.byTime[0].expires) {
		m.remove(m.byTime[0])
	}
	n := 0
	for _, e := range m.entries {
		if !e.moved {
			n++
		}
	}
	return n, nil
}

// Clear removes every record.
func (m *Memory) Clear(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.entries)
	clear(m.users)
	m.byTime = m.byTime[:0]
	m.ranks = [rankTombstone + 1]lruList{}
	m.sessions = 0
	return nil
}

// Keys yields the live keys as of the call.
func (m *Memory) Keys(context.Context) iter.Seq2[string, error] {
	m.mu.Lock()
	now := m.now()
	keys := make([]string, 0, len(m.entries))
	for k, e := range m.entries {
		if now.Before(e.expires) && !e.moved {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	return func(yield func(string, error) bool) {
		for _, k := range keys {
			if !yield(k, nil) {
				return
			}
		}
	}
}

// Bound returns the live records bound to user.
func (m *Memory) Bound(_ context.Context, user string) (map[string]*Binding, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := map[string]*Binding{}
	for e := range m.users[user] {
		if !now.Before(e.expires) {
			m.remove(e)
			continue
		}
		b := *e.bind
		out[e.key] = &b
	}
	return out, nil
}

// expiryHeap orders entries by expiry, soonest first.
type expiryHeap []*memEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*memEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
