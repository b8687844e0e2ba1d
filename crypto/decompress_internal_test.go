package crypto

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// The compressed body is exactly one frame (spec/cookie-v1.md §3.3):
// whatever follows it, even an empty or a skippable frame, is rejected.
func TestDecompressOneFrameOnly(t *testing.T) {
	r, err := New([][]byte{bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte(`{"k":"value"},`), 100)
	frame := enc.EncodeAll(data, nil)
	crc, _ := zstd.NewWriter(nil, zstd.WithEncoderCRC(true))
	withCRC := crc.EncodeAll(data, nil)
	if out, err := r.decompress(frame); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("one frame: %v", err)
	}
	if out, err := r.decompress(withCRC); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("one frame with a checksum: %v", err)
	}
	skippable := binary.LittleEndian.AppendUint32(nil, 0x184D2A50)
	skippable = binary.LittleEndian.AppendUint32(skippable, 3)
	skippable = append(skippable, "abc"...)
	empty := enc.EncodeAll(nil, nil)
	for name, tail := range map[string][]byte{
		"an empty frame":     empty,
		"a skippable frame":  skippable,
		"a second frame":     frame,
		"one byte":           {0},
		"a truncated header": frame[:3],
	} {
		if _, err := r.decompress(append(append([]byte(nil), frame...), tail...)); err == nil {
			t.Errorf("a frame followed by %s was accepted", name)
		}
	}
	for n := range len(frame) - 1 {
		if _, err := r.decompress(frame[:n]); err == nil {
			t.Errorf("a frame truncated to %d bytes was accepted", n)
		}
	}
}
