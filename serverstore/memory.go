package serverstore

import (
	"container/heap"
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/crumbs-go/session"
)

func init() {
	session.Register("memory", func(_ context.Context, config string, secrets [][]byte) (session.Store, error) {
		if config != "memory" {
			return nil, fmt.Errorf("serverstore: configuration %q: the memory store takes no parameters; write \"memory\"", config)
		}
		return New(NewMemory(), secrets)
	})
}

// DefaultMaxEntries is the default capacity of a Memory backend.
const DefaultMaxEntries = 100_000

// Memory is the embedded Backend: a map in this process, for development,
// tests and single-instance deployments. Sessions do not survive a restart
// and are not shared between instances.
//
// It is bounded: at capacity, storing a new session first evicts the one
// that expires soonest. Expired entries are removed as writes pass by and
// whenever they are read; Memory starts no goroutine and needs no Close.
// It is safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	entries map[string]*memEntry
	byTime  expiryHeap
	max     int
	now     func() time.Time
}

type memEntry struct {
	key     string
	blob    []byte
	version uint64
	expires time.Time
	index   int // in byTime
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

// NewMemory returns an empty Memory backend.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{entries: map[string]*memEntry{}, max: DefaultMaxEntries, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	return m
}

var (
	_ Backend  = (*Memory)(nil)
	_ Toucher  = (*Memory)(nil)
	_ Counter  = (*Memory)(nil)
	_ Clearer  = (*Memory)(nil)
	_ Iterator = (*Memory)(nil)
)

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

func (m *Memory) remove(e *memEntry) {
	heap.Remove(&m.byTime, e.index)
	delete(m.entries, e.key)
}

// sweep removes a few expired entries, oldest first: every write pays for
// the cleanup of at most a handful.
func (m *Memory) sweep(now time.Time) {
	for i := 0; i < 8 && m.byTime.Len() > 0 && !now.Before(m.byTime[0].expires); i++ {
		m.remove(m.byTime[0])
	}
}

// Get returns a copy of the record.
func (m *Memory) Get(_ context.Context, key string) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(key, m.now())
	if e == nil {
		return nil, 0, ErrNotFound
	}
	return append([]byte(nil), e.blob...), e.version, nil
}

// Set stores a copy of blob with a version check.
func (m *Memory) Set(_ context.Context, key string, blob []byte, version uint64, expires time.Time) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	e := m.live(key, now)
	switch {
	case e == nil && version > 0:
		return 0, ErrNotFound
	case e != nil && e.version != version:
		return 0, ErrConflict
	case e == nil:
		for len(m.entries) >= m.max {
			m.remove(m.byTime[0]) // evict the session that expires soonest
		}
		e = &memEntry{key: key}
		m.entries[key] = e
		e.expires = expires
		heap.Push(&m.byTime, e)
	default:
		e.expires = expires
		heap.Fix(&m.byTime, e.index)
	}
	e.blob = append(e.blob[:0], blob...)
	e.version++
	return e.version, nil
}

// Delete removes key.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok {
		m.remove(e)
	}
	return nil
}

// Touch moves key's expiry.
func (m *Memory) Touch(_ context.Context, key string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.live(key, m.now())
	if e == nil {
		return ErrNotFound
	}
	e.expires = expires
	heap.Fix(&m.byTime, e.index)
	return nil
}

// Count returns the number of live records.
func (m *Memory) Count(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for m.byTime.Len() > 0 && !now.Before(m.byTime[0].expires) {
		m.remove(m.byTime[0])
	}
	return len(m.entries), nil
}

// Clear removes every record.
func (m *Memory) Clear(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.entries)
	m.byTime = m.byTime[:0]
	return nil
}

// Keys yields the live keys as of the call.
func (m *Memory) Keys(context.Context) iter.Seq2[string, error] {
	m.mu.Lock()
	now := m.now()
	keys := make([]string, 0, len(m.entries))
	for k, e := range m.entries {
		if now.Before(e.expires) {
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
