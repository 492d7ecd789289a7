package store

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// The outbox holds one entry per event, keyed by the event's ULID so that
// key order is commit order. It is written in the same transaction as the
// record it reports, so an event exists exactly when its record does; the
// hook dispatcher reads it after commit, never inside the write.

// bucketOutboxBySubject indexes events by the record they report
// (subject key ‖ event key), so erasing a person's data can find every
// event that carries it.
var bucketOutboxBySubject = []byte("outbox_by_subject")

// appendEvent writes an event about the record subject whose data is the
// JSON of payload.
func (s *Store) appendEvent(tx *bolt.Tx, now time.Time, typ string, subject [16]byte, payload any) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketOutbox)
	key := s.ids.New(now)
	// Hook cursors assume every new event sorts after every older one. A
	// ULID follows the wall clock, which can step back (NTP, a restored
	// VM); such a key would land behind a cursor and never be delivered.
	// Writes are serialized, so the last key is the newest: go past it.
	if last, _ := b.Cursor().Last(); last != nil && bytes.Compare(key[:], last) <= 0 {
		key = successor([16]byte(last))
	}
	e := newEncoder()
	e.str(typ)
	e.time(model.NewTime(now))
	e.bytes(data)
	if err := b.Put(key[:], e.b); err != nil {
		return err
	}
	return tx.Bucket(bucketOutboxBySubject).Put(cat(subject[:], key[:]), empty)
}

// rewriteEvents replaces the data of every event about subject with what
// rewrite makes of it.
func rewriteEvents(tx *bolt.Tx, subject [16]byte, rewrite func(typ string, data []byte) ([]byte, error)) error {
	outbox := tx.Bucket(bucketOutbox)
	c := tx.Bucket(bucketOutboxBySubject).Cursor()
	for k, _ := c.Seek(subject[:]); k != nil && bytes.HasPrefix(k, subject[:]); k, _ = c.Next() {
		evKey := k[16:]
		ev, err := decodeEvent(evKey, outbox.Get(evKey))
		if err != nil {
			return err
		}
		data, err := rewrite(ev.Type, ev.Data)
		if err != nil {
			return err
		}
		e := newEncoder()
		e.str(ev.Type)
		e.time(ev.CreatedAt)
		e.bytes(data)
		if err := outbox.Put(evKey, e.b); err != nil {
			return err
		}
	}
	return nil
}

// successor is the next 128-bit key after k.
func successor(k [16]byte) [16]byte {
	for i := 15; i >= 0; i-- {
		k[i]++
		if k[i] != 0 {
			break
		}
	}
	return k
}

func decodeEvent(key, val []byte) (*model.Event, error) {
	d := newDecoder(val)
	ev := &model.Event{
		ID:        model.FormatID(model.PrefixEvent, [16]byte(key)),
		Type:      d.str(),
		CreatedAt: d.time(),
		Data:      d.bytes(),
	}
	return ev, d.err
}

// FindEvents returns up to limit outbox events after the event afterID
// (from the start when ""), oldest first.
func (s *Store) FindEvents(ctx context.Context, afterID string, limit int) ([]*model.Event, error) {
	var out []*model.Event
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		k, v := c.First()
		if afterID != "" {
			after, ok := model.ParseID(model.PrefixEvent, afterID)
			if !ok {
				return model.Errorf(model.EValidation, "invalid event id")
			}
			if k, v = c.Seek(after[:]); k != nil && string(k) == string(after[:]) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			ev, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}
