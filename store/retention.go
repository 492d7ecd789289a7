package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// retentionBatch bounds one scrubbing transaction.
const retentionBatch = 500

// ScrubOldScans removes the user agent, referrer and IP hash of every
// impression created before cutoff, from the record and from its event;
// counts stay. It also forgets repeat-detection entries older than two
// days (their daily IP key has changed, so they can never match again).
// It returns how many impressions it scrubbed.
func (s *Store) ScrubOldScans(ctx context.Context, cutoff time.Time) (int, error) {
	limit := model.TimeKey(cutoff)
	total := 0
	for ctx.Err() == nil {
		n, done := 0, false
		err := s.update(applyOnly(func(w *wtx) error {
			tx := w.tx
			n, done = 0, false
			meta, imps := tx.Bucket(bucketMeta), tx.Bucket(bucketImpressions)
			c := imps.Cursor()
			k, v := c.First()
			if cur := meta.Get(keyRetentionCursor); cur != nil {
				if k, v = c.Seek(cur); k != nil && bytes.Equal(k, cur) {
					k, v = c.Next()
				}
			}
			var last []byte
			for ; k != nil && bytes.Compare(k, limit[:]) < 0 && n < retentionBatch; k, v = c.Next() {
				last = bytes.Clone(k)
				m, ip, err := decodeImpressionWithIP(k, v)
				if err != nil {
					return err
				}
				if m.UserAgent == nil && m.Referrer == nil && ip == nil {
					continue
				}
				if err := scrubImpression(tx, [16]byte(last), m); err != nil {
					return err
				}
				n++
			}
			done = k == nil || bytes.Compare(k, limit[:]) >= 0
			if last == nil {
				return nil
			}
			return meta.Put(keyRetentionCursor, last)
		}))
		total += n
		if err != nil {
			return total, err
		}
		if done {
			break
		}
	}
	return total, s.pruneScanRecent(ctx, s.now().Add(-scanRecentKept))
}

// scanRecentKept is how long a repeat-detection entry is kept: its key
// holds the day's IP hash, which can match no scan after the next day.
const scanRecentKept = 48 * time.Hour

// scrubImpression removes the scan data of impression m (key): its user
// agent, referrer and IP hash, from the record and from its events.
func scrubImpression(tx *bolt.Tx, key [16]byte, m *model.Impression) error {
	m.UserAgent, m.Referrer = nil, nil
	val := encodeImpression(m) // without the IP hash
	if err := tx.Bucket(bucketImpressions).Put(key[:], val); err != nil {
		return err
	}
	return rewriteEvents(tx, key, val, func(string, []byte) ([]byte, error) { return json.Marshal(m) })
}

// pruneScanRecent deletes repeat-detection entries last seen before
// before, in bounded transactions.
func (s *Store) pruneScanRecent(ctx context.Context, before time.Time) error {
	limit := before.UnixMilli()
	_, err := s.inBatches(ctx, retentionBatch, func(w *wtx) (n int, err error) {
		c := w.tx.Bucket(bucketScanRecent).Cursor()
		for k, v := c.First(); k != nil && n < retentionBatch; {
			if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) >= limit {
				k, v = c.Next()
				continue
			}
			// Seek past the deleted key: bbolt's Next after Delete can
			// skip the key that follows it (etcd-io/bbolt#146).
			deleted := bytes.Clone(k)
			if err := c.Delete(); err != nil {
				return n, err
			}
			n++
			k, v = c.Seek(deleted)
		}
		return n, nil
	})
	return err
}
