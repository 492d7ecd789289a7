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

// getSession reads the session of the token with this hash, or nil.
func getSession(tx *bolt.Tx, hash [32]byte) (*sessionRecord, error) {
	v := tx.Bucket(bucketSessions).Get(hash[:])
	if v == nil {
		return nil, nil
	}
	return decodeSession(v)
}

func putSession(tx *bolt.Tx, hash [32]byte, r *sessionRecord) error {
	if err := tx.Bucket(bucketSessions).Put(hash[:], encodeSession(r)); err != nil {
		return err
	}
	return tx.Bucket(bucketSessionsByUser).Put(cat(r.userKey[:], r.key[:]), hash[:])
}

func deleteSession(tx *bolt.Tx, hash [32]byte, r *sessionRecord) error {
	if err := tx.Bucket(bucketSessions).Delete(hash[:]); err != nil {
		return err
	}
	return tx.Bucket(bucketSessionsByUser).Delete(cat(r.userKey[:], r.key[:]))
}

// userSessions returns the index keys and token hashes of a user's
// sessions, oldest first.
func userSessions(tx *bolt.Tx, userKey [16]byte) (keys, hashes [][]byte) {
	c := tx.Bucket(bucketSessionsByUser).Cursor()
	for k, v := c.Seek(userKey[:]); k != nil && bytes.HasPrefix(k, userKey[:]); k, v = c.Next() {
		keys, hashes = append(keys, bytes.Clone(k)), append(hashes, bytes.Clone(v))
	}
	return keys, hashes
}

// deleteUserSessions ends the oldest sessions of a user until at most
// keep are left, and returns how many it ended.
func deleteUserSessions(tx *bolt.Tx, userKey [16]byte, keep int) (int, error) {
	keys, hashes := userSessions(tx, userKey)
	n := max(0, len(keys)-keep)
	for i := range n {
		if err := tx.Bucket(bucketSessions).Delete(hashes[i]); err != nil {
			return 0, err
		}
		if err := tx.Bucket(bucketSessionsByUser).Delete(keys[i]); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// CreateSession implements model.UserService.
func (s *Store) CreateSession(ctx context.Context, userID string) (sess *model.Session, token string, err error) {
	token, hash, err := newToken()
	if err != nil {
		return nil, "", err
	}
	err = s.update(func(w *wtx) (func() error, error) {
		u, _, err := getUser(w.tx, userID)
		if err != nil {
			return nil, err
		}
		if u.DisabledAt != nil {
			return nil, model.Errorf(model.EUnauthorized, "this user is disabled")
		}
		t := model.NewTime(w.now)
		r := &sessionRecord{key: w.newKey(), userKey: keyOf(model.PrefixUser, u.ID), createdAt: t, seenAt: t}
		sess = r.session()
		return func() error {
			if _, err := deleteUserSessions(w.tx, r.userKey, maxSessionsPerUser-1); err != nil {
				return err
			}
			return putSession(w.tx, hash, r)
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
	unauthorized := model.Errorf(model.EUnauthorized, "the session has ended; sign in again")
	if token == "" || len(token) > maxTokenLen {
		return nil, nil, unauthorized
	}
	hash := sha256.Sum256([]byte(token))
	// live reports whether r, of user u, is a live session at now.
	live := func(r *sessionRecord, u *model.User, now time.Time) bool {
		return u != nil && u.DisabledAt == nil && now.Sub(r.createdAt.Time) < absolute && now.Sub(r.seenAt.Time) < idle
	}
	// user reads the user of r, or nil.
	user := func(tx *bolt.Tx, r *sessionRecord) (*model.User, error) {
		u, _, err := getUser(tx, model.FormatID(model.PrefixUser, r.userKey))
		if model.ErrorCode(err) == model.ENotFound {
			return nil, nil
		}
		return u, err
	}
	var r *sessionRecord
	var u *model.User
	now := s.now()
	err := s.view(func(tx *bolt.Tx) (err error) {
		if r, err = getSession(tx, hash); err != nil || r == nil {
			return err
		}
		u, err = user(tx, r)
		return err
	})
	if err != nil || r == nil {
		if err == nil {
			err = unauthorized
		}
		return nil, nil, err
	}
	if !live(r, u, now) {
		err = s.update(func(w *wtx) (func() error, error) {
			r, err := getSession(w.tx, hash)
			if err != nil || r == nil {
				return nil, err
			}
			return func() error { return deleteSession(w.tx, hash, r) }, nil
		})
		if err != nil {
			return nil, nil, err
		}
		return nil, nil, unauthorized
	}
	if now.Sub(r.seenAt.Time) < seenEvery {
		return r.session(), u, nil
	}
	err = s.update(func(w *wtx) (func() error, error) {
		// Read again: the session may have ended, or its user been
		// disabled, since.
		again, err := getSession(w.tx, hash)
		if err != nil {
			return nil, err
		}
		if again == nil {
			return nil, unauthorized
		}
		if u, err = user(w.tx, again); err != nil {
			return nil, err
		}
		if !live(again, u, w.now) {
			return nil, unauthorized
		}
		r = again
		r.seenAt = model.NewTime(w.now)
		return func() error { return putSession(w.tx, hash, r) }, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return r.session(), u, nil
}

// EndSession implements model.UserService.
func (s *Store) EndSession(ctx context.Context, token string) error {
	if token == "" || len(token) > maxTokenLen {
		return nil
	}
	hash := sha256.Sum256([]byte(token))
	return s.update(func(w *wtx) (func() error, error) {
		r, err := getSession(w.tx, hash)
		if err != nil || r == nil {
			return nil, err
		}
		return func() error { return deleteSession(w.tx, hash, r) }, nil
	})
}

// EndUserSessions implements model.UserService.
func (s *Store) EndUserSessions(ctx context.Context, userID string) error {
	return s.updateAs(ctx, func(w *wtx) (func() error, error) {
		u, _, err := getUser(w.tx, userID)
		if err != nil {
			return nil, err
		}
		key := keyOf(model.PrefixUser, u.ID)
		if keys, _ := userSessions(w.tx, key); len(keys) == 0 {
			return nil, nil
		}
		return func() error {
			n, err := deleteUserSessions(w.tx, key, 0)
			if err != nil {
				return err
			}
			return w.auditf("user.sessions_ended", u.ID, "%d sessions ended", n)
		}, nil
	})
}
