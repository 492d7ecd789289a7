package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// The audit log records who changed what, in the write transaction of
// each change, so that an entry exists exactly when its change does.
//
// It is structural: a write method wraps its write in audited(ctx, ...),
// which makes the actor the context carries the wtx's actor while the
// write's apply runs, and the apply says what it did with one w.auditf.
// Without an audited actor (a write-scope key creating a referral, the
// dispatcher recording a plugin's commission) the wrapper hands the write
// back unchanged and auditf returns at once, before formatting anything:
// the hot paths pay nothing for the log.

var _ model.AuditService = (*Store)(nil)

// maxSummaryLen bounds an entry's summary, in bytes.
const maxSummaryLen = 500

// audited returns fn, made on behalf of the actor ctx carries, when that
// actor's changes are audited: its apply then runs with w.actor set.
// Otherwise it returns fn itself.
func audited(ctx context.Context, fn write) write {
	a, ok := model.ActorFrom(ctx)
	if !ok || !a.Audited {
		return fn
	}
	return func(w *wtx) (func() error, error) {
		apply, err := fn(w)
		if err != nil || apply == nil {
			return apply, err
		}
		return func() error {
			w.actor = &a
			defer func() { w.actor = nil }()
			return apply()
		}, nil
	}
}

// updateAs runs fn in the next group commit on behalf of ctx's actor.
func (s *Store) updateAs(ctx context.Context, fn write) error { return s.update(audited(ctx, fn)) }

// auditf records, when the write is audited, that its actor did action to
// subject; the summary is formatted only then. Only an apply calls it.
func (w *wtx) auditf(action, subject, format string, args ...any) error {
	if w.actor == nil {
		return nil
	}
	return w.putAudit(w.actor, action, subject, fmt.Sprintf(format, args...))
}

// putAudit appends an entry by a to the log, with its indexes.
func (w *wtx) putAudit(a *model.Actor, action, subject, summary string) error {
	key := w.newKey()
	e := &model.AuditEntry{ID: model.FormatID(model.PrefixAudit, key), Actor: *a, Action: action, Subject: subject,
		Summary: clip(summary, maxSummaryLen), CreatedAt: model.NewTime(w.now)}
	if err := w.tx.Bucket(bucketAudit).Put(key[:], encodeAudit(e)); err != nil {
		return err
	}
	idx := []indexEntry{{bucketAuditByAction, hashKey(action)}, {bucketAuditBySubject, hashKey(subject)}}
	if a.ID != "" {
		idx = append(idx, indexEntry{bucketAuditByActor, hashKey(a.ID)})
	}
	return putIndexes(w.tx, key, idx...)
}

// clip cuts s to at most n bytes, at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func encodeAudit(e *model.AuditEntry) []byte {
	enc := newEncoder()
	enc.str(e.Actor.Kind)
	enc.str(e.Actor.ID)
	enc.str(e.Actor.Label)
	enc.str(e.Actor.SessionID)
	enc.str(e.Action)
	enc.str(e.Subject)
	enc.str(e.Summary)
	enc.time(e.CreatedAt)
	return enc.b
}

func decodeAudit(key, val []byte) (*model.AuditEntry, error) {
	d := newDecoder(val)
	e := &model.AuditEntry{ID: model.FormatID(model.PrefixAudit, [16]byte(key))}
	e.Actor.Kind = d.str()
	e.Actor.ID = d.str()
	e.Actor.Label = d.str()
	e.Actor.SessionID = d.str()
	e.Actor.Audited = true
	e.Action = d.str()
	e.Subject = d.str()
	e.Summary = d.str()
	e.CreatedAt = d.time()
	return e, d.err
}

// FindAudit implements model.AuditService: entries newest first. The
// most selective filter given (subject, then actor, then action) picks
// the index walked; the others are checked on each entry.
func (s *Store) FindAudit(ctx context.Context, f model.AuditFilter) (p model.Page[*model.AuditEntry], err error) {
	bucket, prefix := bucketAudit, []byte(nil)
	switch {
	case f.Subject != "":
		bucket, prefix = bucketAuditBySubject, hashKey(f.Subject)
	case f.ActorID != "":
		bucket, prefix = bucketAuditByActor, hashKey(f.ActorID)
	case f.Action != "":
		bucket, prefix = bucketAuditByAction, hashKey(f.Action)
	}
	load := func(tx *bolt.Tx, key []byte) (*model.AuditEntry, bool, error) {
		e, err := decodeAudit(key, tx.Bucket(bucketAudit).Get(key))
		if err != nil {
			return nil, false, err
		}
		ok := (f.Subject == "" || e.Subject == f.Subject) && (f.ActorID == "" || e.Actor.ID == f.ActorID) &&
			(f.Action == "" || e.Action == f.Action)
		return e, ok, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucket, prefix, model.PrefixAudit, f.ListOptions, load)
		return err
	})
	return p, err
}

// changes describes, for a summary, which fields of a record differ
// between two versions of it: their JSON names, and for the fields in
// shown the values too, as "status active → paused". Names only
// otherwise: a summary never repeats what a person entered (names,
// emails, metadata). It is a fmt.Stringer, so the comparison is made only
// when an audited write formats its summary.
type changes struct {
	before, after any
	// shown are fields whose values are no personal data.
	shown []string
}

// statusShown are the fields whose values a summary shows.
var statusShown = []string{"status", "role", "active", "hold_days", "fraud_policy", "scope"}

func (c changes) String() string {
	var b, a map[string]json.RawMessage
	jb, err1 := json.Marshal(c.before)
	ja, err2 := json.Marshal(c.after)
	if err1 != nil || err2 != nil || json.Unmarshal(jb, &b) != nil || json.Unmarshal(ja, &a) != nil {
		return "changed"
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(a)) {
		if name == "updated_at" || string(a[name]) == string(b[name]) {
			continue
		}
		if slices.Contains(c.shown, name) {
			out = append(out, fmt.Sprintf("%s %s → %s", name, strings.Trim(string(b[name]), `"`), strings.Trim(string(a[name]), `"`)))
		} else {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return "no change"
	}
	return "changed " + strings.Join(out, ", ")
}

// changed returns the changes from before to after for a summary.
func changed(before, after any) changes { return changes{before, after, statusShown} }
