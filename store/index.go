package store

import (
	"bytes"
	"crypto/sha256"

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

// scanDesc calls fn with the record key of each entry under prefix, newest
// first, starting just before prefix ‖ after when after is set. fn returns
// false to stop.
func scanDesc(c *bolt.Cursor, prefix, after []byte, fn func(key []byte) (bool, error)) error {
	var k []byte
	if after != nil {
		start := cat(prefix, after)
		k, _ = c.Seek(start)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
	} else if end := prefixEnd(prefix); end == nil {
		k, _ = c.Last()
	} else if k, _ = c.Seek(end); k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		if len(k) < len(prefix)+16 {
			continue
		}
		more, err := fn(k[len(k)-16:])
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// scanBudget bounds how many index entries one page may examine, so that a
// filter combination no index serves (an ambassador with a million
// referrals in other programs, say) still costs a bounded amount per page.
// A page that runs out of budget ends early with has_more and a cursor at
// the last entry examined; the client pages on as usual.
func scanBudget(limit int) int { return 10*limit + 100 }

// listPage reads one page from bucket (a primary bucket when prefix is
// empty, else an index), loading each record with load, which reports
// false for a record the filter does not match.
func listPage[T any](tx *bolt.Tx, bucket, prefix []byte, idPrefix string, opt model.ListOptions,
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
	err := scanDesc(tx.Bucket(bucket).Cursor(), prefix, after, func(key []byte) (bool, error) {
		if budget == 0 {
			p.HasMore = true
			return false, nil
		}
		budget--
		v, ok, err := load(tx, key)
		if err != nil {
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
