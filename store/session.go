package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// Console sessions. The browser holds the token; the store keeps only
// its SHA-256, as the session's key, and finds a session by it. (A lookup
// by hash leaks nothing through timing that helps to guess a token: an
// attacker cannot steer the hash.) Each user's sessions are also indexed
// under the user, so that ending them all, or the oldest, is a walk over
// one prefix.

// seenEvery is how stale a session's LastSeenAt may get before a request
// writes it again: the idle timeout is kept to about this much, and a
// console page view is mostly a read.
const seenEvery = time.Minute

// maxSessionsPerUser bounds each user's sessions: a new one beyond it
// ends the oldest. Sessions nobody ends (a browser closed without signing
// out) would otherwise pile up, since only a request with its token finds
// that one has timed out.
const maxSessionsPerUser = 32

type sessionRecord struct {
	key       [16]byte
	userKey   [16]byte
	createdAt model.Time
	seenAt    model.Time
}

func encodeSession(r *sessionRecord) []byte {
	e := newEncoder()
	e.key(r.key)
	e.key(r.userKey)
	e.time(r.createdAt)
	e.time(r.seenAt)
	return e.b
}

func decodeSession(val []byte) (*sessionRecord, error) {
	d := newDecoder(val)
	r := &sessionRecord{}
	r.key = d.key()
	r.userKey = d.key()
	r.createdAt = d.time()
	r.seenAt = d.time()
	return r, d.err
}

func (r *sessionRecord) session() *model.Session {
	return &model.Session{ID: model.FormatID(model.PrefixSession, r.key), UserID: model.FormatID(model.PrefixUser, r.userKey),
		CreatedAt: r.createdAt, LastSeenAt: r.seenAt}
}

// sessionKind is where one kind of session lives: the console's users'
// or the portal's ambassadors'. The owner key of a session record is its
// user's or its ambassador's.
type sessionKind struct {
	// byToken maps SHA-256 of the token → session; byOwner maps owner
	// key ‖ session key → SHA-256 of its token.
	byToken, byOwner []byte
}

var (
	consoleSessions = sessionKind{bucketSessions, bucketSessionsByUser}
	portalSessions  = sessionKind{bucketPortalSessions, bucketPortalSessionsByAmbassador}
)

// get reads the session of the token with this hash, or nil.
func (k sessionKind) get(tx *bolt.Tx, hash [32]byte) (*sessionRecord, error) {
	v := tx.Bucket(k.byToken).Get(hash[:])
	if v == nil {
		return nil, nil
	}
	return decodeSession(v)
}

func (k sessionKind) put(tx *bolt.Tx, hash [32]byte, r *sessionRecord) error {
	if err := tx.Bucket(k.byToken).Put(hash[:], encodeSession(r)); err != nil {
		return err
	}
	return tx.Bucket(k.byOwner).Put(cat(r.userKey[:], r.key[:]), hash[:])
}

func (k sessionKind) delete(tx *bolt.Tx, hash [32]byte, r *sessionRecord) error {
	if err := tx.Bucket(k.byToken).Delete(hash[:]); err != nil {
		return err
	}
	return tx.Bucket(k.byOwner).Delete(cat(r.userKey[:], r.key[:]))
}

// ofOwner returns the index keys and token hashes of an owner's
// sessions, oldest first.
func (k sessionKind) ofOwner(tx *bolt.Tx, owner [16]byte) (keys, hashes [][]byte) {
	c := tx.Bucket(k.byOwner).Cursor()
	for ik, v := c.Seek(owner[:]); ik != nil && bytes.HasPrefix(ik, owner[:]); ik, v = c.Next() {
		keys, hashes = append(keys, bytes.Clone(ik)), append(hashes, bytes.Clone(v))
	}
	return keys, hashes
}

// trim ends the oldest sessions of an owner until at most keep are left,
// and returns how many it ended.
func (k sessionKind) trim(tx *bolt.Tx, owner [16]byte, keep int) (int, error) {
	keys, hashes := k.ofOwner(tx, owner)
	n := max(0, len(keys)-keep)
	for i := range n {
		if err := tx.Bucket(k.byToken).Delete(hashes[i]); err != nil {
			return 0, err
		}
		if err := tx.Bucket(k.byOwner).Delete(keys[i]); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// start stores a new session of owner, made at now, ending the oldest
// beyond maxSessionsPerUser, and returns it with its token.
func (k sessionKind) start(w *wtx, owner [16]byte) (*sessionRecord, string, error) {
	token, hash, err := newToken()
	if err != nil {
		return nil, "", err
	}
	t := model.NewTime(w.now)
	r := &sessionRecord{key: w.newKey(), userKey: owner, createdAt: t, seenAt: t}
	if _, err := k.trim(w.tx, owner, maxSessionsPerUser-1); err != nil {
		return nil, "", err
	}
	return r, token, k.put(w.tx, hash, r)
}

// liveSession returns the live session of token in kind k and its owner,
// which owner reads (ok false when the owner is gone or may no longer
// sign in), and marks it seen at most every seenEvery. A session found to
// have ended is deleted. Errors: unauthorized.
func liveSession[O any](s *Store, k sessionKind, token string, idle, absolute time.Duration,
	owner func(tx *bolt.Tx, r *sessionRecord) (o O, ok bool, err error)) (*sessionRecord, O, error) {
	var none O
	unauthorized := model.Errorf(model.EUnauthorized, "the session has ended; sign in again")
	if token == "" || len(token) > maxTokenLen {
		return nil, none, unauthorized
	}
	hash := sha256.Sum256([]byte(token))
	live := func(r *sessionRecord, ok bool, now time.Time) bool {
		return ok && now.Sub(r.createdAt.Time) < absolute && now.Sub(r.seenAt.Time) < idle
	}
	var r *sessionRecord
	var o O
	var ok bool
	now := s.now()
	err := s.view(func(tx *bolt.Tx) (err error) {
		if r, err = k.get(tx, hash); err != nil || r == nil {
			return err
		}
		o, ok, err = owner(tx, r)
		return err
	})
	if err != nil || r == nil {
		if err == nil {
			err = unauthorized
		}
		return nil, none, err
	}
	if !live(r, ok, now) {
		err = s.update(func(w *wtx) (func() error, error) {
			r, err := k.get(w.tx, hash)
			if err != nil || r == nil {
				return nil, err
			}
			return func() error { return k.delete(w.tx, hash, r) }, nil
		})
		if err != nil {
			return nil, none, err
		}
		return nil, none, unauthorized
	}
	if now.Sub(r.seenAt.Time) < seenEvery {
		return r, o, nil
	}
	err = s.update(func(w *wtx) (func() error, error) {
		// Read again: the session may have ended, or its owner been
		// disabled, since.
		again, err := k.get(w.tx, hash)
		if err != nil {
			return nil, err
		}
		if again == nil {
			return nil, unauthorized
		}
		if o, ok, err = owner(w.tx, again); err != nil {
			return nil, err
		}
		if !live(again, ok, w.now) {
			return nil, unauthorized
		}
		r = again
		r.seenAt = model.NewTime(w.now)
		return func() error { return k.put(w.tx, hash, r) }, nil
	})
	if err != nil {
		return nil, none, err
	}
	return r, o, nil
}

// endSession ends the session of token in kind k; ending an ended one is
// harmless.
func (s *Store) endSession(k sessionKind, token string) error {
	if token == "" || len(token) > maxTokenLen {
		return nil
	}
	hash := sha256.Sum256([]byte(token))
	return s.update(func(w *wtx) (func() error, error) {
		r, err := k.get(w.tx, hash)
		if err != nil || r == nil {
			return nil, err
		}
		return func() error { return k.delete(w.tx, hash, r) }, nil
	})
}

// CreateSession implements model.UserService.
func (s *Store) CreateSession(ctx context.Context, userID string) (sess *model.Session, token string, err error) {
	err = s.update(func(w *wtx) (func() error, error) {
		u, _, err := getUser(w.tx, userID)
		if err != nil {
			return nil, err
		}
		if u.DisabledAt != nil {
			return nil, model.Errorf(model.EUnauthorized, "this user is disabled")
		}
		return func() error {
			r, t, err := consoleSessions.start(w, keyOf(model.PrefixUser, u.ID))
			if err == nil {
				sess, token = r.session(), t
			}
			return err
		}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return sess, token, nil
}

// SessionByToken implements model.UserService. A session found to have
// ended is deleted.
func (s *Store) SessionByToken(ctx context.Context, token string, idle, absolute time.Duration) (*model.Session, *model.User, error) {
	r, u, err := liveSession(s, consoleSessions, token, idle, absolute, func(tx *bolt.Tx, r *sessionRecord) (*model.User, bool, error) {
		u, _, err := getUser(tx, model.FormatID(model.PrefixUser, r.userKey))
		if model.ErrorCode(err) == model.ENotFound {
			return nil, false, nil
		}
		return u, err == nil && u.DisabledAt == nil, err
	})
	if err != nil {
		return nil, nil, err
	}
	return r.session(), u, nil
}

// EndSession implements model.UserService.
func (s *Store) EndSession(ctx context.Context, token string) error {
	return s.endSession(consoleSessions, token)
}

// EndUserSessions implements model.UserService.
func (s *Store) EndUserSessions(ctx context.Context, userID string) error {
	return s.updateAs(ctx, func(w *wtx) (func() error, error) {
		u, _, err := getUser(w.tx, userID)
		if err != nil {
			return nil, err
		}
		key := keyOf(model.PrefixUser, u.ID)
		if keys, _ := consoleSessions.ofOwner(w.tx, key); len(keys) == 0 {
			return nil, nil
		}
		return func() error {
			n, err := consoleSessions.trim(w.tx, key, 0)
			if err != nil {
				return err
			}
			return w.auditf("user.sessions_ended", u.ID, "%d sessions ended", n)
		}, nil
	})
}
