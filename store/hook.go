package store

import (
	"bytes"
	"context"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.HookStore = (*Store)(nil)

func pluginPrefix(plugin string) []byte { return append([]byte(plugin), 0) }

func eventKey(id string) ([16]byte, error) {
	k, ok := model.ParseID(model.PrefixEvent, id)
	if !ok {
		return k, model.NotFound(model.PrefixEvent, id)
	}
	return k, nil
}

// HookCursor implements model.HookStore.
func (s *Store) HookCursor(ctx context.Context, plugin string) (cursor string, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		cursor = formatCursor(tx.Bucket(bucketHookCursors).Get([]byte(plugin)))
		return nil
	})
	return cursor, err
}

// startOfOutbox is the cursor of a plugin that has passed no event: it
// sorts before every event key.
var startOfOutbox [16]byte

func formatCursor(k []byte) string {
	if len(k) != 16 || [16]byte(k) == startOfOutbox {
		return ""
	}
	return model.FormatID(model.PrefixEvent, [16]byte(k))
}

// StartHookCursor implements model.HookStore.
func (s *Store) StartHookCursor(ctx context.Context, plugin string, fromNow bool) (cursor string, err error) {
	err = s.update(func(w *wtx) (func() error, error) {
		b := w.tx.Bucket(bucketHookCursors)
		if k := b.Get([]byte(plugin)); k != nil {
			cursor = formatCursor(k)
			return nil, nil
		}
		// A plugin met for the first time: from now on, it starts after
		// the newest event; from the beginning, before the oldest. Either
		// way the cursor is stored, so a later start does not move it.
		start := startOfOutbox[:]
		if last, _ := w.tx.Bucket(bucketOutbox).Cursor().Last(); fromNow && last != nil {
			start = bytes.Clone(last)
		}
		cursor = formatCursor(start)
		return func() error { return b.Put([]byte(plugin), start) }, nil
	})
	return cursor, err
}

// advanceCursor moves plugin's cursor to key unless it is already past it.
func advanceCursor(tx *bolt.Tx, plugin string, key [16]byte) error {
	b := tx.Bucket(bucketHookCursors)
	if cur := b.Get([]byte(plugin)); cur != nil && bytes.Compare(cur, key[:]) >= 0 {
		return nil
	}
	return b.Put([]byte(plugin), key[:])
}

func putResult(tx *bolt.Tx, key [16]byte, r *model.HookResult) error {
	if r == nil {
		return nil
	}
	e := newEncoder()
	e.str(r.EventType)
	e.time(r.RecordedAt)
	if c := r.Commission; c != nil {
		e.byte(1)
		e.str(c.AmbassadorID)
		e.varint(c.Amount)
		e.str(c.Currency)
		e.str(c.Reason)
	} else {
		e.byte(0)
	}
	e.str(r.PluginVersion)
	return tx.Bucket(bucketHookResults).Put(cat(key[:], []byte(r.Plugin)), e.b)
}

// AckHookEvent implements model.HookStore.
func (s *Store) AckHookEvent(ctx context.Context, plugin, eventID string, result *model.HookResult) error {
	key, err := eventKey(eventID)
	if err != nil {
		return err
	}
	return s.update(func(w *wtx) (func() error, error) {
		record, err := s.pluginCommission(w, key, result)
		if err != nil {
			return nil, err
		}
		return func() error {
			if err := record(); err != nil {
				return err
			}
			if err := putResult(w.tx, key, result); err != nil {
				return err
			}
			return advanceCursor(w.tx, plugin, key)
		}, nil
	})
}

// pluginCommission checks the commission a plugin returned for a
// referral.created (a signup bounty) or earning.created event, and returns
// what records it: the commission, held like the program's own and
// counted with its cohort. A result already on record means this one was
// recorded before, so a redelivered event cannot pay twice. A commission
// that names an unknown ambassador, a bad currency or an absurd amount is
// not recorded (the result is, and the log says why): a plugin must not
// be able to write nonsense into the ledger.
func (s *Store) pluginCommission(w *wtx, eventKey [16]byte, r *model.HookResult) (record func() error, err error) {
	none := func() error { return nil }
	tx := w.tx
	if r == nil || r.Commission == nil || r.Commission.Amount == 0 ||
		tx.Bucket(bucketHookResults).Get(cat(eventKey[:], []byte(r.Plugin))) != nil {
		return none, nil
	}
	ev := tx.Bucket(bucketOutbox).Get(eventKey[:])
	if ev == nil {
		return none, nil
	}
	event, err := decodeEvent(eventKey[:], ev)
	if err != nil {
		return nil, err
	}
	subjectKey, ok, err := eventSubject(eventKey[:], ev)
	if err != nil || !ok {
		return none, err
	}
	var ref *model.Referral
	var earning *model.Earning
	switch event.Type {
	case model.EventReferralCreated:
		ref, err = getRecord(tx, bucketReferrals, model.PrefixReferral, model.FormatID(model.PrefixReferral, subjectKey), decodeReferral)
	case model.EventEarningCreated:
		earning, err = getRecord(tx, bucketEarnings, model.PrefixEarning, model.FormatID(model.PrefixEarning, subjectKey), decodeEarning)
		if err == nil {
			ref, err = getRecord(tx, bucketReferrals, model.PrefixReferral, earning.ReferralID, decodeReferral)
		}
	default:
		return none, nil // a commission for another event type has nothing to attach to
	}
	if err != nil {
		return nil, err
	}
	prg, err := getRecord(tx, bucketPrograms, model.PrefixProgram, ref.ProgramID, decodeProgram)
	if err != nil {
		return nil, err
	}
	c := r.Commission
	cm, err := model.PluginCommission(prg, ref, earning, *c, r.Plugin, r.PluginVersion, w.newID(model.PrefixCommission), w.now)
	if err == nil && !exists(tx, bucketAmbassadors, model.PrefixAmbassador, c.AmbassadorID) {
		err = model.NotFound(model.PrefixAmbassador, c.AmbassadorID)
	}
	if err != nil {
		s.log.Warn("hook plugin returned a commission that cannot be recorded", "plugin", r.Plugin, "event_id", r.EventID,
			"ambassador_id", c.AmbassadorID, "currency", c.Currency, "amount", c.Amount, "err", err)
		return none, nil
	}
	subj, day := referralSubject(ref), referralDay(ref)
	if earning != nil {
		subj, day = earningSubject(earning, ref), dayOf(model.IDTime(keyOf(model.PrefixEarning, earning.ID)))
	}
	return func() error {
		if err := s.putNewCommission(tx, w.now, cm); err != nil {
			return err
		}
		return w.counts.bump(subj, day, func(counts *model.Counts) { counts.MoneyFor(cm.Currency).Commissions += cm.Amount })
	}, nil
}

func encodeDeadLetter(dl model.DeadLetter) []byte {
	e := newEncoder()
	e.str(dl.EventType)
	e.uvarint(uint64(dl.Attempts))
	e.str(dl.LastError)
	e.time(dl.FailedAt)
	return e.b
}

func decodeDeadLetter(plugin string, key, val []byte) (*model.DeadLetter, error) {
	d := newDecoder(val)
	dl := &model.DeadLetter{Plugin: plugin, EventID: model.FormatID(model.PrefixEvent, [16]byte(key))}
	dl.EventType = d.str()
	dl.Attempts = int(d.uvarint())
	dl.LastError = d.str()
	dl.FailedAt = d.time()
	return dl, d.err
}

// DeadLetterHookEvent implements model.HookStore.
func (s *Store) DeadLetterHookEvent(ctx context.Context, dl model.DeadLetter) error {
	key, err := eventKey(dl.EventID)
	if err != nil {
		return err
	}
	return s.update(func(w *wtx) (func() error, error) {
		return func() error {
			if err := w.tx.Bucket(bucketHookDeadLetters).Put(cat(pluginPrefix(dl.Plugin), key[:]), encodeDeadLetter(dl)); err != nil {
				return err
			}
			return advanceCursor(w.tx, dl.Plugin, key)
		}, nil
	})
}

// FindDeadLetters implements model.HookStore.
func (s *Store) FindDeadLetters(ctx context.Context, plugin string, opt model.ListOptions) (p model.Page[*model.DeadLetter], err error) {
	load := func(tx *bolt.Tx, key []byte) (*model.DeadLetter, bool, error) {
		dl, err := decodeDeadLetter(plugin, key, tx.Bucket(bucketHookDeadLetters).Get(cat(pluginPrefix(plugin), key)))
		return dl, true, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucketHookDeadLetters, pluginPrefix(plugin), model.PrefixEvent, opt, load)
		return err
	})
	return p, err
}

// RetryDeadLetters implements model.HookStore.
func (s *Store) RetryDeadLetters(ctx context.Context, plugin string, eventIDs []string) (n int, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		n = 0
		dead, retries := w.tx.Bucket(bucketHookDeadLetters), w.tx.Bucket(bucketHookRetries)
		prefix := pluginPrefix(plugin)
		var keys [][]byte
		if len(eventIDs) == 0 {
			c := dead.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
		}
		for _, id := range eventIDs {
			key, err := eventKey(id)
			if err != nil || dead.Get(cat(prefix, key[:])) == nil {
				return nil, model.Errorf(model.ENotFound, "%s has no dead letter %s", plugin, id)
			}
			keys = append(keys, cat(prefix, key[:]))
		}
		slices.SortFunc(keys, bytes.Compare)
		keys = slices.CompactFunc(keys, bytes.Equal)
		n = len(keys)
		return func() error {
			for _, k := range keys {
				if err := dead.Delete(k); err != nil {
					return err
				}
				if err := retries.Put(k, empty); err != nil {
					return err
				}
			}
			if n == 0 {
				return nil
			}
			return w.auditf("hook.retried", plugin, "%d dead letters queued for delivery again", n)
		}, nil
	})
	return n, err
}

// NextHookRetry implements model.HookStore.
func (s *Store) NextHookRetry(ctx context.Context, plugin string) (ev *model.Event, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		prefix := pluginPrefix(plugin)
		k, _ := tx.Bucket(bucketHookRetries).Cursor().Seek(prefix)
		if k == nil || !bytes.HasPrefix(k, prefix) {
			return nil
		}
		key := k[len(prefix):]
		v := tx.Bucket(bucketOutbox).Get(key)
		if v == nil {
			return errCorrupt
		}
		ev, err = decodeEvent(key, v)
		return err
	})
	return ev, err
}

// AckHookRetry implements model.HookStore.
func (s *Store) AckHookRetry(ctx context.Context, plugin, eventID string, result *model.HookResult, dl *model.DeadLetter) error {
	key, err := eventKey(eventID)
	if err != nil {
		return err
	}
	return s.update(func(w *wtx) (func() error, error) {
		k := cat(pluginPrefix(plugin), key[:])
		record := func() error { return nil }
		if dl == nil {
			var err error
			if record, err = s.pluginCommission(w, key, result); err != nil {
				return nil, err
			}
		}
		return func() error {
			if err := w.tx.Bucket(bucketHookRetries).Delete(k); err != nil {
				return err
			}
			if dl != nil {
				return w.tx.Bucket(bucketHookDeadLetters).Put(k, encodeDeadLetter(*dl))
			}
			if err := record(); err != nil {
				return err
			}
			return putResult(w.tx, key, result)
		}, nil
	})
}

// FindHookResults implements model.HookStore.
func (s *Store) FindHookResults(ctx context.Context, plugin, ambassadorID string, limit int) (out []*model.HookResult, err error) {
	limit = min(max(limit, 1), model.MaxListLimit)
	// Like a list page, a filtered read examines a bounded number of
	// results: the newest matches within them.
	budget := scanBudget(limit) * 10
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHookResults).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit && budget > 0; k, v = c.Prev() {
			budget--
			name := string(k[16:])
			if plugin != "" && name != plugin {
				continue
			}
			d := newDecoder(v)
			r := &model.HookResult{Plugin: name, EventID: model.FormatID(model.PrefixEvent, [16]byte(k[:16]))}
			r.EventType = d.str()
			r.RecordedAt = d.time()
			if d.byte() == 1 {
				r.Commission = &model.HookCommission{AmbassadorID: d.str(), Amount: d.varint(), Currency: d.str(), Reason: d.str()}
			}
			r.PluginVersion = d.str()
			if d.err != nil {
				return d.err
			}
			if ambassadorID != "" && (r.Commission == nil || r.Commission.AmbassadorID != ambassadorID) {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// HookLag implements model.HookStore.
func (s *Store) HookLag(ctx context.Context, plugin string, limit int) (lag model.HookLag, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		k, _ := c.First()
		if cur := tx.Bucket(bucketHookCursors).Get([]byte(plugin)); cur != nil {
			if k, _ = c.Seek(cur); k != nil && bytes.Equal(k, cur) {
				k, _ = c.Next()
			}
		}
		if k != nil {
			lag.Oldest = model.IDTime([16]byte(k))
		}
		for ; k != nil && lag.Depth < limit; k, _ = c.Next() {
			lag.Depth++
		}
		prefix := pluginPrefix(plugin)
		dc := tx.Bucket(bucketHookDeadLetters).Cursor()
		for k, _ := dc.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && lag.DeadLetters < limit; k, _ = dc.Next() {
			lag.DeadLetters++
		}
		return nil
	})
	return lag, err
}
