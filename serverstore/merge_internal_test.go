package serverstore

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
)

// randomMeta is a valid stored header: either flag, cookie attributes of
// 1 to 40 bytes under flagCookie, deadlines around now.
func randomMeta(r *rand.Rand) []byte {
	m := make([]byte, metaSize)
	m[0] = formatV2
	if r.IntN(2) == 0 {
		m[1] |= flagBrowse
	}
	if r.IntN(2) == 0 {
		m[1] |= flagCookie
		for range 1 + r.IntN(40) {
			m = append(m, byte('a'+r.IntN(26)))
		}
	}
	now := uint64(time.Now().Unix())
	binary.BigEndian.PutUint64(m[2:], now+uint64(r.IntN(7200))-3600)
	binary.BigEndian.PutUint64(m[10:], now+uint64(r.IntN(7200)))
	return m
}

// The memory backend merges a write's header into the write's own meta
// (mergeHeader with owned): the same header and expiry as MergeHeader's
// copy, for every combination of flags, lengths and Header bits.
func TestMergeHeaderOwnedMatchesCopy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		stored := randomMeta(r)
		w := &Write{Meta: randomMeta(r), Expires: time.Now().Add(time.Duration(r.IntN(7200)) * time.Second), Header: HeaderPart(r.IntN(4))}
		if r.IntN(50) == 0 {
			w.Convert = true
		}
		if r.IntN(50) == 0 {
			stored = stored[:metaSize-1] // not a valid header: w's replaces it
		}
		storedBefore, wBefore := bytes.Clone(stored), bytes.Clone(w.Meta)
		want, wantExp := MergeHeader(stored, w)
		if !bytes.Equal(w.Meta, wBefore) || !bytes.Equal(stored, storedBefore) {
			t.Fatalf("%d: MergeHeader changed its inputs", i)
		}
		got, gotExp := mergeHeader(stored, w, true)
		if !bytes.Equal(got, want) || !gotExp.Equal(wantExp) {
			t.Fatalf("%d: header %x, Header %b, stored %x, write %x:\n owned %x %v\n  copy %x %v", i, w.Header, w.Header, storedBefore, wBefore, got, gotExp, want, wantExp)
		}
		if !bytes.Equal(stored, storedBefore) {
			t.Fatalf("%d: the owned merge changed the stored header", i)
		}
	}
}
