package store

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// The outbox holds one entry per event, keyed by the event's ULID so that
// key order is commit order. It is written in the same transaction as the
// record it reports, so an event exists exactly when its record does; the
// hook dispatcher reads it after commit, never inside the write.

// An event value is either formatV1 ‖ type ‖ time ‖ JSON data, or, for an
// event whose data is a record as it was created, formatRecordEvent ‖
// record kind ‖ time ‖ record key ‖ record value, the kind standing for the
// type too (referral.created, impression.created). The second form keeps the record in its
// compact encoding, a third the size of its JSON, and renders the JSON when
// the event is read, outside the writer. Idempotency entries written
// before schema 15 replay the record from it (snapEvent).
const formatRecordEvent = 2

// Record kinds of record events.
const (
	recordReferral   byte = 1
	recordImpression byte = 2
)

// recordEventTypes are the event types of the record kinds.
var recordEventTypes = map[byte]string{
	recordReferral:   model.EventReferralCreated,
	recordImpression: model.EventImpressionCreated,
}

// formatSubjectEvent is a JSON event that names its subject:
// formatSubjectEvent ‖ subject key ‖ type ‖ time ‖ JSON data, so pruning
// can delete its entry in the by-subject index. Older JSON events are
// formatV1 ‖ type ‖ time ‖ JSON data.
const formatSubjectEvent = 3

// appendEvent writes an event about the record subject whose data is the
// JSON of payload.
func (s *Store) appendEvent(tx *bolt.Tx, now time.Time, typ string, subject [16]byte, payload any) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	return s.putEvent(tx, now, subject, encodeJSONEvent(subject, typ, model.NewTime(now), data))
}

func encodeJSONEvent(subject [16]byte, typ string, at model.Time, data []byte) []byte {
	e := &encoder{b: append(make([]byte, 0, 64+len(data)), formatSubjectEvent)}
	e.key(subject)
	e.str(typ)
	e.time(at)
	e.bytes(data)
	return e.b
}

// appendRecordEvent writes the creation event of the record key (of kind),
// whose data is the record as encoded in val.
func (s *Store) appendRecordEvent(tx *bolt.Tx, now time.Time, kind byte, key [16]byte, val []byte) error {
	return s.putEvent(tx, now, key, encodeRecordEvent(kind, model.NewTime(now), key, val))
}

func encodeRecordEvent(kind byte, at model.Time, key [16]byte, val []byte) []byte {
	e := &encoder{b: append(make([]byte, 0, 40+len(val)), formatRecordEvent)}
	e.byte(kind)
	e.time(at)
	e.key(key)
	e.bytes(val)
	return e.b
}

func (s *Store) putEvent(tx *bolt.Tx, now time.Time, subject [16]byte, val []byte) error {
	b := tx.Bucket(bucketOutbox)
	key := s.ids.New(now)
	// Hook cursors assume every new event sorts after every older one. A
	// ULID follows the wall clock, which can step back (NTP, a restored
	// VM); such a key would land behind a cursor and never be delivered.
	// Writes are serialized, so the last key is the newest: go past it.
	if last, _ := b.Cursor().Last(); last != nil && bytes.Compare(key[:], last) <= 0 {
		key = successor([16]byte(last))
	}
	if err := b.Put(key[:], val); err != nil {
		return err
	}
	return tx.Bucket(bucketOutboxBySubject).Put(cat(subject[:], key[:]), empty)
}

// rewriteEvents rewrites every event about subject: a record event gets
// record as its new value, a JSON event the data rewrite makes of its old
// data.
func rewriteEvents(tx *bolt.Tx, subject [16]byte, record []byte, rewrite func(typ string, data []byte) ([]byte, error)) error {
	outbox := tx.Bucket(bucketOutbox)
	c := tx.Bucket(bucketOutboxBySubject).Cursor()
	for k, _ := c.Seek(subject[:]); k != nil && bytes.HasPrefix(k, subject[:]); k, _ = c.Next() {
		evKey := k[16:]
		old := outbox.Get(evKey)
		var val []byte
		if len(old) > 0 && old[0] == formatRecordEvent {
			ev, err := decodeRecordEvent(old)
			if err != nil {
				return err
			}
			val = encodeRecordEvent(ev.kind, ev.at, ev.key, record)
		} else {
			ev, err := decodeEvent(evKey, old)
			if err != nil {
				return err
			}
			data, err := rewrite(ev.Type, ev.Data)
			if err != nil {
				return err
			}
			val = encodeJSONEvent(subject, ev.Type, ev.CreatedAt, data)
		}
		if err := outbox.Put(evKey, val); err != nil {
			return err
		}
	}
	return nil
}

// recordEvent is a decoded record event, its record still encoded.
type recordEvent struct {
	kind byte
	at   model.Time
	key  [16]byte
	val  []byte
}

func decodeRecordEvent(v []byte) (recordEvent, error) {
	if len(v) == 0 || v[0] != formatRecordEvent {
		return recordEvent{}, errCorrupt
	}
	d := &decoder{b: v[1:]}
	ev := recordEvent{kind: d.byte(), at: d.time(), key: d.key(), val: d.bytes()}
	if recordEventTypes[ev.kind] == "" {
		return ev, errCorrupt
	}
	return ev, d.err
}

// createdRecord returns the record that the first event about subject
// carries, as that event keeps it: the record as created, or as erasure
// left it. ok is false when that event is not a record event.
func createdRecord(tx *bolt.Tx, subject [16]byte) (val []byte, ok bool, err error) {
	k, _ := tx.Bucket(bucketOutboxBySubject).Cursor().Seek(subject[:])
	if k == nil || !bytes.HasPrefix(k, subject[:]) {
		return nil, false, nil
	}
	v := tx.Bucket(bucketOutbox).Get(k[16:])
	if len(v) == 0 || v[0] != formatRecordEvent {
		return nil, false, nil
	}
	ev, err := decodeRecordEvent(v)
	if err != nil || ev.key != subject {
		return nil, false, err
	}
	return ev.val, true, nil
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
	if len(val) > 0 && val[0] == formatRecordEvent {
		rec, err := decodeRecordEvent(val)
		if err != nil {
			return nil, err
		}
		data, err := recordJSON(rec.kind, rec.key, rec.val)
		if err != nil {
			return nil, err
		}
		return &model.Event{ID: model.FormatID(model.PrefixEvent, [16]byte(key)), Type: recordEventTypes[rec.kind],
			CreatedAt: rec.at, Data: data}, nil
	}
	d := newDecoder(val)
	if len(val) > 0 && val[0] == formatSubjectEvent {
		d = &decoder{b: val[1:]}
		d.key()
	}
	ev := &model.Event{
		ID:        model.FormatID(model.PrefixEvent, [16]byte(key)),
		Type:      d.str(),
		CreatedAt: d.time(),
		Data:      d.bytes(),
	}
	return ev, d.err
}

// eventSubject is the record an event reports: named in the event, or
// for JSON events written before they named it, found in the data.
func eventSubject(key, val []byte) ([16]byte, bool, error) {
	switch {
	case len(val) > 0 && val[0] == formatRecordEvent:
		ev, err := decodeRecordEvent(val)
		return ev.key, err == nil, err
	case len(val) > 0 && val[0] == formatSubjectEvent:
		d := &decoder{b: val[1:]}
		k := d.key()
		return k, d.err == nil, d.err
	}
	ev, err := decodeEvent(key, val)
	if err != nil {
		return [16]byte{}, false, err
	}
	k, ok := subjectInData(ev.Data)
	return k, ok, nil
}

// subjectInData finds the record a JSON event reports in its data: its
// own id, or its referral's or earning's.
func subjectInData(data []byte) ([16]byte, bool) {
	var d struct {
		ID       string `json:"id"`
		Referral struct {
			ID string `json:"id"`
		} `json:"referral"`
		Earning struct {
			ID string `json:"id"`
		} `json:"earning"`
	}
	json.Unmarshal(data, &d)
	for _, id := range []string{d.ID, d.Referral.ID, d.Earning.ID} {
		if _, subject, ok := strings.Cut(id, "_"); ok {
			if key, err := ulid.ParseStrict(subject); err == nil {
				return key, true
			}
		}
	}
	return [16]byte{}, false
}

// PruneOutbox deletes the events nobody needs any more and returns how
// many it deleted. With consumers (the configured hook plugins, the
// mailer, the enabled webhook endpoints), an event is needed until every
// one of them has passed it and none holds it as a dead letter or a
// queued retry; without any, for the retention. Idempotency replays need
// no event (see idempotency.go), but those of entries written before
// schema 15, whose events stay until the last of them expires
// (eventReplaysFrom). Events go oldest first, in batches, so pruning a
// large backlog never holds the writer for long.
func (s *Store) PruneOutbox(ctx context.Context, now time.Time) (int, error) {
	return s.inBatches(ctx, sweepBatch, func(w *wtx) (n int, err error) {
		tx := w.tx
		consumers := s.consumersIn(tx)
		floor := now
		if len(consumers) == 0 {
			floor = now.Add(-s.outboxRetention)
		}
		limit, ok := passedByAll(tx, consumers)
		if !ok {
			return 0, nil
		}
		from, err := eventReplaysFrom(tx, now)
		if err != nil {
			return 0, err
		}
		// A disabled endpoint's failed messages stay too: they can be
		// sent again.
		holders := append(slices.Clip(s.outboxConsumers), webhookConsumers(tx, true)...)
		outbox, bySubject := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxBySubject)
		// Gathered first, then deleted: bbolt's cursor can skip a key
		// after a Delete.
		var events, indexed [][]byte
		c := outbox.Cursor()
		k, v := c.First()
		if from != nil {
			k, v = c.Seek(from)
		}
		for ; k != nil && len(events) < sweepBatch; k, v = c.Next() {
			if model.IDTime([16]byte(k)).After(floor) || limit != nil && bytes.Compare(k, limit) > 0 {
				break
			}
			if heldByConsumer(tx, holders, k) {
				continue
			}
			subject, ok, err := eventSubject(k, v)
			if err != nil {
				return 0, err
			}
			if ok {
				indexed = append(indexed, cat(subject[:], k))
			}
			events = append(events, bytes.Clone(k))
		}
		for _, k := range indexed {
			if err := bySubject.Delete(k); err != nil {
				return 0, err
			}
		}
		for _, k := range events {
			if err := outbox.Delete(k); err != nil {
				return 0, err
			}
		}
		return len(events), nil
	})
}

// consumersIn are the outbox's consumers: those the store was opened
// with (the hook plugins, the mailer) and the enabled webhook endpoints.
// A disabled endpoint holds nothing back: enabled again, it finds the
// events the retention has kept.
func (s *Store) consumersIn(tx *bolt.Tx) []string {
	return append(slices.Clip(s.outboxConsumers), webhookConsumers(tx, false)...)
}

// passedByAll is the newest event every consumer has passed: nil without
// consumers (nothing holds events back), ok false while one has passed
// none.
func passedByAll(tx *bolt.Tx, consumers []string) (limit []byte, ok bool) {
	cursors := tx.Bucket(bucketHookCursors)
	for _, name := range consumers {
		cur := cursors.Get([]byte(name))
		if len(cur) != 16 || [16]byte(cur) == startOfOutbox {
			return nil, false
		}
		if limit == nil || bytes.Compare(cur, limit) < 0 {
			limit = cur
		}
	}
	return limit, true
}

// heldByConsumer reports whether a consumer holds event key as a dead
// letter or a queued retry, which an operator may still deliver.
func heldByConsumer(tx *bolt.Tx, consumers []string, key []byte) bool {
	dead, retries := tx.Bucket(bucketHookDeadLetters), tx.Bucket(bucketHookRetries)
	for _, name := range consumers {
		k := cat(pluginPrefix(name), key)
		if dead.Get(k) != nil || retries.Get(k) != nil {
			return true
		}
	}
	return false
}

// recordJSON renders a record event's data as its JSON event payload.
func recordJSON(kind byte, key [16]byte, val []byte) ([]byte, error) {
	var rec any
	var err error
	switch kind {
	case recordReferral:
		rec, err = decodeReferral(key[:], val)
	case recordImpression:
		rec, err = decodeImpression(key[:], val)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(rec)
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

// Space is what the store's buckets take of its file, for watching the
// outbox's share of it.
type Space struct {
	// Buckets holds, by name, the bytes of the pages allocated to each
	// top-level bucket (those nested in it included): what it occupies
	// of the file, its pages' unused ends included; for a bucket small
	// enough to be kept in its parent's page, the bytes it takes there.
	Buckets map[string]int64
	// OutboxEvents is how many events the outbox holds.
	OutboxEvents int
	// FileBytes is the size of the file, and FreeBytes that of its pages
	// free for reuse (pruning frees pages; the file never shrinks).
	FileBytes, FreeBytes int64
}

// OutboxBytes is what the outbox and its by-subject index occupy.
func (sp Space) OutboxBytes() int64 {
	return sp.Buckets[string(bucketOutbox)] + sp.Buckets[string(bucketOutboxBySubject)]
}

// OutboxShare is the outbox's share of the file.
func (sp Space) OutboxShare() float64 {
	if sp.FileBytes == 0 {
		return 0
	}
	return float64(sp.OutboxBytes()) / float64(sp.FileBytes)
}

// Space measures the store from bbolt's bucket statistics, which walk
// every page: a moment for a large store, in a read transaction, which
// holds up no write.
func (s *Store) Space() (sp Space, err error) {
	sp.Buckets = map[string]int64{}
	err = s.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			st := b.Stats()
			n := st.BranchAlloc + st.LeafAlloc
			if n == 0 {
				n = st.InlineBucketInuse // small enough to live in its parent's page
			}
			sp.Buckets[string(name)] = int64(n)
			if bytes.Equal(name, bucketOutbox) {
				sp.OutboxEvents = st.KeyN
			}
			return nil
		})
	})
	sp.FileBytes, sp.FreeBytes = s.Stats().FileSize, int64(s.db.Stats().FreeAlloc)
	return sp, err
}
