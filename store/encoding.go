package store

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/referrald/referrald/model"
)

// Records are kept in a compact binary form of our own, not as API JSON, so
// the on-disk format evolves apart from the API and a referral with its
// indexes stays well under a kilobyte. Every value starts with a format
// version byte; fields are appended in a fixed order, and a decoder treats
// fields missing at the end as zero so a newer version can add fields after
// the last.
const formatV1 = 1

var errCorrupt = errors.New("store: corrupt record")

type encoder struct{ b []byte }

func newEncoder() *encoder { return &encoder{b: append(make([]byte, 0, 256), formatV1)} }

func (e *encoder) byte(v byte)            { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64)       { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)         { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) key(k [16]byte)         { e.b = append(e.b, k[:]...) }
func (e *encoder) time(t model.Time)      { e.varint(t.UnixMilli()) }
func (e *encoder) bytes(v []byte)         { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *encoder) str(s string)           { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) idKey(prefix, s string) { k, _ := model.ParseID(prefix, s); e.key(k) }

// optStr writes nil as 0 and a string as its length plus one.
func (e *encoder) optStr(s *string) {
	if s == nil {
		e.uvarint(0)
		return
	}
	e.uvarint(uint64(len(*s)) + 1)
	e.b = append(e.b, *s...)
}

// optTime writes an optional time as a presence byte and the time.
func (e *encoder) optTime(t *model.Time) {
	if t == nil {
		e.byte(0)
		return
	}
	e.byte(1)
	e.time(*t)
}

// amounts writes a currency → amount map as its size and its pairs in
// currency order, so that equal maps encode alike.
func (e *encoder) amounts(m map[string]int64) {
	e.uvarint(uint64(len(m)))
	for _, cur := range slices.Sorted(maps.Keys(m)) {
		e.str(cur)
		e.varint(m[cur])
	}
}

// optID writes an optional ID as a presence byte and its key.
func (e *encoder) optID(prefix string, s *string) {
	if s == nil {
		e.byte(0)
		return
	}
	e.byte(1)
	e.idKey(prefix, *s)
}

// decoder reads what encoder wrote. It copies everything it returns, since
// bbolt's bytes are only valid inside their transaction.
type decoder struct {
	b   []byte
	err error
}

func newDecoder(v []byte) *decoder {
	if len(v) == 0 || v[0] != formatV1 {
		return &decoder{err: errCorrupt}
	}
	return &decoder{b: v[1:]}
}

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if len(d.b) == 0 {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if len(d.b) == 0 {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads the length of a list. Every element takes at least one byte,
// so a count beyond the bytes left is corruption; without this check a
// damaged record could announce 2^63 elements and exhaust memory.
func (d *decoder) count() uint64 {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return n
}

func (d *decoder) take(n uint64) []byte {
	if uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) key() (k [16]byte) {
	if len(d.b) == 0 {
		return k
	}
	copy(k[:], d.take(16))
	return k
}

func (d *decoder) id(prefix string) string { return model.FormatID(prefix, d.key()) }
func (d *decoder) time() model.Time        { return model.Time{Time: time.UnixMilli(d.varint()).UTC()} }
func (d *decoder) str() string             { return string(d.take(d.uvarint())) }

func (d *decoder) bytes() []byte {
	v := d.take(d.uvarint())
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// amounts reads what encoder.amounts wrote; nil when empty.
func (d *decoder) amounts() map[string]int64 {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]int64, n)
	for range n {
		cur := d.str()
		m[cur] = d.varint()
	}
	return m
}

func (d *decoder) optStr() *string {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	s := string(d.take(n - 1))
	return &s
}

func (d *decoder) optTime() *model.Time {
	if d.byte() == 0 {
		return nil
	}
	t := d.time()
	return &t
}

func (d *decoder) optID(prefix string) *string {
	if d.byte() == 0 {
		return nil
	}
	s := d.id(prefix)
	return &s
}

// snapshot is a record as an idempotency entry keeps it: key ‖ value.
func snapshot(key [16]byte, val []byte) []byte {
	return append(append(make([]byte, 0, 16+len(val)), key[:]...), val...)
}

func splitSnapshot(snap []byte) ([16]byte, []byte, error) {
	var k [16]byte
	if len(snap) < 16 {
		return k, nil, errCorrupt
	}
	copy(k[:], snap)
	return k, snap[16:], nil
}

// fromSnapshot decodes the record a create returned as a snapshot.
func fromSnapshot[T any](snap []byte, replayed bool, err error, decode func(key, val []byte) (T, error)) (T, bool, error) {
	var zero T
	if err != nil {
		return zero, false, err
	}
	key, val, err := splitSnapshot(snap)
	if err != nil {
		return zero, false, err
	}
	rec, err := decode(key[:], val)
	return rec, replayed, err
}
