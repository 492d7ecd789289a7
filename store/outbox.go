package store

import (
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

// appendEvent writes an event whose data is the JSON of payload.
func (s *Store) appendEvent(tx *bolt.Tx, now time.Time, typ string, payload any) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	key := s.ids.New(now)
	e := newEncoder()
	e.str(typ)
	e.time(model.NewTime(now))
	e.bytes(data)
	return tx.Bucket(bucketOutbox).Put(key[:], e.b)
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
