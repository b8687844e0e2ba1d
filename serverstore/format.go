package serverstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/errs"
	"github.com/crumbs-go/session/internal/timex"
)

// The stored record (spec/server-id-v1.md §4).
const (
	formatV1   = 1 // read only: format || flags || u64 absolute || u64 idle || values (one blob)
	formatV2   = 2 // meta = format || flags || u64 absolute || u64 idle [|| cookie]; values kept by key
	metaSize   = 1 + 1 + 8 + 8
	flagBrowse = 1 << 0
	flagCookie = 1 << 1 // format 2: the cookie attributes follow the deadlines

	tagRaw  = 0 // a stored value: tag || the codec's bytes
	tagZstd = 1 // tag || a Zstandard frame of the codec's bytes (a large value)
)

func encodeMeta(rec *driver.Record) []byte {
	b := make([]byte, metaSize, metaSize+len(rec.Cookie))
	b[0] = formatV2
	if rec.BrowserSession {
		b[1] |= flagBrowse
	}
	if len(rec.Cookie) > 0 {
		b[1] |= flagCookie
		b = append(b, rec.Cookie...)
	}
	abs, _ := timex.Unix(rec.Expires) // the Manager's deadlines are after 1970
	idle, _ := timex.Unix(rec.IdleExpires)
	binary.BigEndian.PutUint64(b[2:], abs)
	binary.BigEndian.PutUint64(b[10:], idle)
	return b
}

// decodeHeader reads the header both formats share.
func decodeHeader(b []byte, format byte) (*driver.Record, error) {
	h, err := readHeader(b, format)
	if err != nil {
		return nil, err
	}
	return &driver.Record{Expires: h.expires, IdleExpires: h.idle, BrowserSession: h.browser}, nil
}

// header is what a stored record's header holds.
type header struct {
	expires, idle time.Time
	browser       bool
}

func readHeader(b []byte, format byte) (header, error) {
	if len(b) < metaSize || b[0] != format || b[1]&^flagBrowse != 0 && (format != formatV2 || b[1]&^(flagBrowse|flagCookie) != 0) {
		return header{}, errs.Reason("serverstore: malformed stored record")
	}
	abs, idle := binary.BigEndian.Uint64(b[2:]), binary.BigEndian.Uint64(b[10:])
	if abs > 1<<62 || idle > 1<<62 {
		return header{}, errs.Reason("serverstore: malformed stored record")
	}
	return header{expires: timex.FromUnix(abs), idle: timex.FromUnix(idle), browser: b[1]&flagBrowse != 0}, nil
}

// decode turns a stored entry, of either format, into a record.
//
// With decoded, e's values are decoded already (the memory backend's
// getInto): its map is the caller's and becomes the record's, but the
// values' bytes and e.Meta may be the backend's own, which nothing may
// write into.
func (s *Store) decode(e *Entry, decoded bool) (*driver.Record, error) {
	if e.Meta == nil && e.Legacy != nil {
		rec, err := decodeHeader(e.Legacy, formatV1)
		if err != nil {
			return nil, err
		}
		rec.Data = e.Legacy[metaSize:]
		return rec, nil
	}
	if !validMeta(e.Meta) {
		return nil, errs.Reason("serverstore: malformed stored record")
	}
	rec, err := decodeHeader(e.Meta, formatV2)
	if err != nil {
		return nil, err
	}
	if len(e.Meta) > metaSize {
		rec.Cookie = bytes.Clone(e.Meta[metaSize:])
	}
	// e's map is the caller's, fresh from the backend's Get (the Backend
	// contract) or getInto: it takes the decoded values. A nil map is an
	// empty record's (rec.Values nil would mean format 1).
	into := e.Values
	if into == nil {
		into = map[string][]byte{}
	}
	if decoded {
		rec.Values = into
	} else if rec.Values, err = s.decodeValuesInto(into, e.Values); err != nil {
		return nil, err
	}
	if b := e.Binding; b != nil {
		rec.User, rec.Created, rec.Seen, rec.Agent, rec.Addr = b.User, b.Created, b.Seen, b.Agent, b.Addr
	}
	return rec, nil
}

// decodeValues turns stored values into the codec's bytes, in a new map.
func (s *Store) decodeValues(stored map[string][]byte) (map[string][]byte, error) {
	return s.decodeValuesInto(make(map[string][]byte, len(stored)), stored)
}

// decodeValuesInto is decodeValues into out, which may be stored itself
// when the caller owns it (a backend's fresh Entry): on an error, out is
// left half written.
func (s *Store) decodeValuesInto(out, stored map[string][]byte) (map[string][]byte, error) {
	for k, v := range stored {
		b, err := s.decodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("serverstore: stored value %q: %w", k, err)
		}
		out[k] = b
	}
	return out, nil
}

func (s *Store) decodeValue(v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, errs.Reason("serverstore: an empty stored value")
	}
	switch v[0] {
	case tagRaw:
		return v[1:], nil
	case tagZstd:
		return s.ring.Decompress(v[1:]) // bounded by the ring's maximum data size
	}
	return nil, errs.Reason("serverstore: a stored value with an unknown tag")
}

// storedValue is a value as the backend keeps it: compressed (tag 1) when
// it is at least the ring's compression threshold (512 bytes by default)
// and Zstandard makes it smaller, raw (tag 0) otherwise.
func (s *Store) storedValue(v []byte) []byte {
	if c, ok := s.ring.Compress(v); ok {
		return append(append(make([]byte, 0, 1+len(c)), tagZstd), c...)
	}
	return append(append(make([]byte, 0, 1+len(v)), tagRaw), v...)
}

func (s *Store) storedValues(values map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(values))
	for k, v := range values {
		out[k] = s.storedValue(v)
	}
	return out
}

// storedChanges turns a request's changes into stored form. A checked
// value is compared in the form it would be stored in now; a record that
// holds it in another form (written raw by an earlier release, or under
// another threshold) is caught by retarget.
func (s *Store) storedChanges(list []driver.Change) []driver.Change {
	out := make([]driver.Change, len(list))
	for i, c := range list {
		out[i] = c
		if !c.Delete {
			out[i].Value = s.storedValue(c.Value)
		}
		if c.Check && c.HadOld {
			out[i].Old = s.storedValue(c.Old)
		}
	}
	return out
}

// allValues is every value as changes to a cleared record: the conversion
// of a format-1 record, unconditional (the request's Updates ran on the
// values it loaded from that record).
func allValues(values map[string][]byte) []driver.Change {
	out := make([]driver.Change, 0, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		out = append(out, driver.Change{Key: k, Value: values[k]})
	}
	return out
}

// retarget handles a conflict whose checked values are equal to what the
// request read, only stored in another form (raw where this release
// compresses, or the other way round): it points the checks at the stored
// bytes and reports true, so the write is tried again. Any real difference
// reports false.
func (s *Store) retarget(changes []driver.Change, stored, decoded map[string][]byte) bool {
	moved := false
	for i := range changes {
		c := &changes[i]
		if !c.Check {
			continue
		}
		cur, present := stored[c.Key]
		switch {
		case present != c.HadOld:
			return false
		case !present || bytes.Equal(cur, c.Old):
		default:
			old, err := s.decodeValue(c.Old)
			if err != nil || !bytes.Equal(decoded[c.Key], old) {
				return false
			}
			c.Old, moved = cur, true
		}
	}
	return moved
}

// validMeta reports whether meta has the length its flags call for: the
// cookie attributes follow the deadlines exactly when flagCookie is set.
func validMeta(meta []byte) bool {
	if len(meta) < metaSize {
		return false
	}
	if meta[1]&flagCookie == 0 {
		return len(meta) == metaSize
	}
	return len(meta) > metaSize && len(meta)-metaSize <= driver.MaxCookieAttributes
}

// MergeHeader is what Apply does to a record's header: the idle deadline of
// w.Meta, and the parts w.Header names (all of w.Meta for a conversion),
// over the stored header; and when the absolute deadline is kept, an expiry
// no later than it. For Backends written in Go; the Redis and PostgreSQL
// backends do the same in their script and statement.
func MergeHeader(stored []byte, w *Write) (meta []byte, expires time.Time) {
	return mergeHeader(stored, w, false)
}

// mergeHeader is MergeHeader; with owned, w.Meta is the caller's to give
// (made for this write alone) and the merge is written into it when the
// result has its length, instead of into a new slice.
func mergeHeader(stored []byte, w *Write, owned bool) (meta []byte, expires time.Time) {
	expires = w.Expires
	if w.Convert || !validMeta(stored) || !validMeta(w.Meta) {
		if owned {
			return w.Meta, expires
		}
		return bytes.Clone(w.Meta), expires
	}
	switch {
	case owned && (w.Header&HeaderFlags != 0 || len(w.Meta) == len(stored)):
		// stored's header into w.Meta, but for what w sets: the idle
		// deadline always, the absolute one under HeaderAbsolute, the flags
		// and the cookie attributes under HeaderFlags.
		meta = w.Meta
		meta[0] = stored[0]
		if w.Header&HeaderAbsolute == 0 {
			copy(meta[2:10], stored[2:10])
		}
		if w.Header&HeaderFlags == 0 {
			meta[1] = stored[1]
			copy(meta[metaSize:], stored[metaSize:])
		}
	case w.Header&HeaderFlags != 0:
		// The flags and the cookie attributes go together.
		meta = append(append(make([]byte, 0, len(w.Meta)), stored[:metaSize]...), w.Meta[metaSize:]...)
		meta[1] = w.Meta[1]
	default:
		meta = bytes.Clone(stored)
	}
	if w.Header&HeaderAbsolute != 0 {
		copy(meta[2:10], w.Meta[2:10])
	} else if abs := binary.BigEndian.Uint64(meta[2:10]); abs > 0 && abs < 1<<62 && time.Unix(int64(abs), 0).Before(expires) {
		expires = time.Unix(int64(abs), 0)
	}
	copy(meta[10:18], w.Meta[10:18])
	return meta, expires
}
