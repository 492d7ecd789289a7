package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// Index buckets hold keys of the form prefix ‖ record key (16 bytes) with
// empty values; walking one backwards from a prefix lists the records of
// that prefix newest first, and a page costs the same however large the
// bucket grows.

var empty = []byte{}

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// putIndexes adds key to each index under its prefix.
func putIndexes(tx *bolt.Tx, key [16]byte, entries ...indexEntry) error {
	for _, e := range entries {
		if err := tx.Bucket(e.bucket).Put(cat(e.prefix, key[:]), empty); err != nil {
			return err
		}
	}
	return nil
}

func deleteIndexes(tx *bolt.Tx, key [16]byte, entries ...indexEntry) error {
	for _, e := range entries {
		if err := tx.Bucket(e.bucket).Delete(cat(e.prefix, key[:])); err != nil {
			return err
		}
	}
	return nil
}

type indexEntry struct {
	bucket []byte
	prefix []byte
}

// hashKey is the 16-byte index prefix of a free-form value such as an
// email: fixed length, so prefixes never overlap, and no personal data is
// copied into index keys.
func hashKey(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:16]
}

// prefixEnd returns the smallest key greater than every key with prefix, or
// nil when there is none (empty or all-0xff prefix).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// descIter walks the entries under one prefix of an index, newest record
// first.
type descIter struct {
	c      *bolt.Cursor
	prefix []byte
	k      []byte
}

// newDescIter starts just before prefix ‖ after when after is set, else at
// the prefix's newest entry.
func newDescIter(c *bolt.Cursor, prefix, after []byte) *descIter {
	it := &descIter{c: c, prefix: prefix}
	if after != nil {
		if it.k, _ = c.Seek(cat(prefix, after)); it.k == nil {
			it.k, _ = c.Last()
		} else {
			it.k, _ = c.Prev()
		}
	} else if end := prefixEnd(prefix); end == nil {
		it.k, _ = c.Last()
	} else if it.k, _ = c.Seek(end); it.k == nil {
		it.k, _ = c.Last()
	} else {
		it.k, _ = c.Prev()
	}
	it.settle()
	return it
}

// settle skips entries too short to end in a record key, and stops at the
// end of the prefix.
func (it *descIter) settle() {
	for ; it.k != nil && bytes.HasPrefix(it.k, it.prefix); it.k, _ = it.c.Prev() {
		if len(it.k) >= len(it.prefix)+16 {
			return
		}
	}
	it.k = nil
}

// key is the current record key, nil at the end.
func (it *descIter) key() []byte {
	if it.k == nil {
		return nil
	}
	return it.k[len(it.k)-16:]
}

func (it *descIter) next() {
	it.k, _ = it.c.Prev()
	it.settle()
}

// keysDesc walks record keys held in memory, newest first.
type keysDesc [][]byte

func (k *keysDesc) key() []byte {
	if len(*k) == 0 {
		return nil
	}
	return (*k)[0]
}

func (k *keysDesc) next() { *k = (*k)[1:] }

// scanDesc calls fn with the record key of each entry under any of
// prefixes, and of each of extra (record keys, newest first), newest
// first, starting just before after when it is set. The prefixes' entries
// are merged by record key, so one list can be served from several index
// ranges (a program's referrals, from its range per status); a key found
// more than once is passed once. fn returns false to stop.
func scanDesc(b *bolt.Bucket, prefixes, extra [][]byte, after []byte, fn func(key []byte) (bool, error)) error {
	its := make([]interface {
		key() []byte
		next()
	}, 0, len(prefixes)+1)
	for _, p := range prefixes {
		its = append(its, newDescIter(b.Cursor(), p, after))
	}
	if after != nil {
		// extra is newest first: skip to the first key older than after.
		extra = extra[sort.Search(len(extra), func(i int) bool { return bytes.Compare(extra[i], after) < 0 }):]
	}
	its = append(its, (*keysDesc)(&extra))
	for {
		var newest []byte
		for _, it := range its {
			if k := it.key(); k != nil && bytes.Compare(k, newest) > 0 {
				newest = k
			}
		}
		if newest == nil {
			return nil
		}
		more, err := fn(newest)
		if err != nil || !more {
			return err
		}
		for _, it := range its {
			if bytes.Equal(it.key(), newest) {
				it.next()
			}
		}
	}
}

// scanBudget bounds how many index entries one page may examine, so that a
// filter combination no index serves (an ambassador with a million
// referrals in other programs, say) still costs a bounded amount per page.
// A page that runs out of budget ends early with has_more and a cursor at
// the last entry examined; the client pages on as usual.
func scanBudget(limit int) int { return 10*limit + 100 }

// errPastRange is what a list's load returns for a record past which
// nothing can match (older than the filter's time range, say): the page
// ends there, and the list with it.
var errPastRange = errors.New("past the list's range")

// listPage reads one page from bucket (a primary bucket when prefix is
// empty, else an index), loading each record with load, which reports
// false for a record the filter does not match, or errPastRange.
func listPage[T any](tx *bolt.Tx, bucket, prefix []byte, idPrefix string, opt model.ListOptions,
	load func(tx *bolt.Tx, key []byte) (T, bool, error)) (model.Page[T], error) {
	return listMerged(tx, bucket, [][]byte{prefix}, nil, idPrefix, opt, load)
}

// listMerged is listPage over the entries under several prefixes of an
// index and the record keys extra (newest first), merged newest first.
func listMerged[T any](tx *bolt.Tx, bucket []byte, prefixes, extra [][]byte, idPrefix string, opt model.ListOptions,
	load func(tx *bolt.Tx, key []byte) (T, bool, error)) (model.Page[T], error) {
	if opt.Limit <= 0 || opt.Limit > model.MaxListLimit {
		opt.Limit = min(max(opt.Limit, model.DefaultListLimit), model.MaxListLimit)
	}
	p := model.Page[T]{Data: make([]T, 0, opt.Limit)}
	var after []byte
	if opt.Cursor != "" {
		k, ok := model.ParseID(idPrefix, opt.Cursor)
		if !ok {
			var fe model.FieldErrors
			fe.Add("cursor", model.FInvalidValue, "is not a cursor this list returned")
			return p, fe.Err()
		}
		after = k[:]
	}
	budget := scanBudget(opt.Limit)
	var last []byte
	err := scanDesc(tx.Bucket(bucket), prefixes, extra, after, func(key []byte) (bool, error) {
		if budget == 0 {
			p.HasMore = true
			return false, nil
		}
		budget--
		v, ok, err := load(tx, key)
		if errors.Is(err, errPastRange) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if !ok {
			last = key
			return true, nil
		}
		if len(p.Data) == opt.Limit {
			p.HasMore = true
			return false, nil
		}
		p.Data = append(p.Data, v)
		last = key
		return true, nil
	})
	if p.HasMore && last != nil {
		next := model.FormatID(idPrefix, [16]byte(last))
		p.NextCursor = &next
	}
	return p, err
}

// getRecord reads the record under the ID s, or returns not_found.
func getRecord[T any](tx *bolt.Tx, bucket []byte, prefix, s string, decode func(key, val []byte) (T, error)) (T, error) {
	var zero T
	k, ok := model.ParseID(prefix, s)
	if !ok {
		return zero, model.NotFound(prefix, s)
	}
	v := tx.Bucket(bucket).Get(k[:])
	if v == nil {
		return zero, model.NotFound(prefix, s)
	}
	return decode(k[:], v)
}

// keyOf returns the record key of an ID already known to be well formed.
func keyOf(prefix, s string) [16]byte {
	k, _ := model.ParseID(prefix, s)
	return k
}
