package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/password"
)

var _ model.UserService = (*Store)(nil)

// Console users. A password is hashed (argon2id, tens of milliseconds)
// before its write is sent to the writer and checked after the read that
// found the user: never inside a write transaction, which would hold up
// every other write.

func encodeUser(u *model.User, hash string) []byte {
	e := newEncoder()
	e.str(u.Email)
	e.str(string(u.Role))
	e.str(hash)
	e.optTime(u.DisabledAt)
	e.optTime(u.LastSignInAt)
	e.time(u.CreatedAt)
	e.time(u.UpdatedAt)
	return e.b
}

func decodeUser(key, val []byte) (*model.User, string, error) {
	d := newDecoder(val)
	u := &model.User{ID: model.FormatID(model.PrefixUser, [16]byte(key))}
	u.Email = d.str()
	u.Role = model.Role(d.str())
	hash := d.str()
	u.DisabledAt = d.optTime()
	u.LastSignInAt = d.optTime()
	u.CreatedAt = d.time()
	u.UpdatedAt = d.time()
	return u, hash, d.err
}

// getUser reads the user with ID id and their password hash, or returns
// not_found.
func getUser(tx *bolt.Tx, id string) (*model.User, string, error) {
	key, ok := model.ParseID(model.PrefixUser, id)
	v := tx.Bucket(bucketUsers).Get(key[:])
	if !ok || v == nil {
		return nil, "", model.NotFound(model.PrefixUser, id)
	}
	return decodeUser(key[:], v)
}

// userByEmail reads the user whose email is email, ignoring case, or
// returns nil.
func userByEmail(tx *bolt.Tx, email string) (*model.User, string, error) {
	key := tx.Bucket(bucketUsersByEmail).Get(hashKey(model.EmailKey(email)))
	if len(key) != 16 {
		return nil, "", nil
	}
	return decodeUser(key, tx.Bucket(bucketUsers).Get(key))
}

// putUser writes u with its password hash and, for a new user, its email
// index entry.
func putUser(tx *bolt.Tx, u *model.User, hash string, isNew bool) error {
	key := keyOf(model.PrefixUser, u.ID)
	if err := tx.Bucket(bucketUsers).Put(key[:], encodeUser(u, hash)); err != nil {
		return err
	}
	if !isNew {
		return nil
	}
	return tx.Bucket(bucketUsersByEmail).Put(hashKey(model.EmailKey(u.Email)), key[:])
}

// emailFree returns conflict if a user has email.
func emailFree(tx *bolt.Tx, email string) error {
	if tx.Bucket(bucketUsersByEmail).Get(hashKey(model.EmailKey(email))) != nil {
		return model.Errorf(model.EConflict, "a console user with this email already exists")
	}
	return nil
}

// newUser is the user in makes, with ID key, at now.
func newUser(key [16]byte, in model.UserCreate, now time.Time) *model.User {
	t := model.NewTime(now)
	return &model.User{ID: model.FormatID(model.PrefixUser, key), Email: in.Email, Role: in.Role, CreatedAt: t, UpdatedAt: t}
}

// CreateUser implements model.UserService.
func (s *Store) CreateUser(ctx context.Context, in model.UserCreate) (u *model.User, err error) {
	if err := in.Validate().Err(); err != nil {
		return nil, err
	}
	hash, err := password.Hash(in.Password)
	if err != nil {
		return nil, err
	}
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		if err := emailFree(w.tx, in.Email); err != nil {
			return nil, err
		}
		u = newUser(w.newKey(), in, w.now)
		return func() error {
			if err := putUser(w.tx, u, hash, true); err != nil {
				return err
			}
			return w.auditf("user.created", u.ID, "role %s", u.Role)
		}, nil
	})
	return u, err
}

// FindUserByID implements model.UserService.
func (s *Store) FindUserByID(ctx context.Context, id string) (u *model.User, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		u, _, err = getUser(tx, id)
		return err
	})
	return u, err
}

// FindUserByEmail returns the user with this email, ignoring case.
// Errors: not_found.
func (s *Store) FindUserByEmail(ctx context.Context, email string) (u *model.User, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		u, _, err = userByEmail(tx, email)
		if err == nil && u == nil {
			err = model.Errorf(model.ENotFound, "no console user has this email")
		}
		return err
	})
	return u, err
}

// FindUsers implements model.UserService: users newest first, disabled
// ones included.
func (s *Store) FindUsers(ctx context.Context, opt model.ListOptions) (p model.Page[*model.User], err error) {
	load := func(tx *bolt.Tx, key []byte) (*model.User, bool, error) {
		u, _, err := decodeUser(key, tx.Bucket(bucketUsers).Get(key))
		return u, true, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucketUsers, nil, model.PrefixUser, opt, load)
		return err
	})
	return p, err
}

// CountUsers implements model.UserService.
func (s *Store) CountUsers(ctx context.Context) (n int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsers).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// anyUser reports whether a user exists.
func anyUser(tx *bolt.Tx) bool {
	k, _ := tx.Bucket(bucketUsers).Cursor().First()
	return k != nil
}

// enabledOwners counts the enabled owners.
func enabledOwners(tx *bolt.Tx) (int, error) {
	n := 0
	err := tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
		u, _, err := decodeUser(k, v)
		if err == nil && u.Role == model.RoleOwner && u.DisabledAt == nil {
			n++
		}
		return err
	})
	return n, err
}

// UpdateUser implements model.UserService. A new password is hashed
// before the write; disabling a user or changing their password ends
// every session of theirs in the same transaction.
func (s *Store) UpdateUser(ctx context.Context, id string, up model.UserUpdate) (u *model.User, err error) {
	if err := up.Validate().Err(); err != nil {
		return nil, err
	}
	var newHash string
	if up.Password != nil {
		if newHash, err = password.Hash(*up.Password); err != nil {
			return nil, err
		}
	}
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		before, hash, err := getUser(w.tx, id)
		if err != nil {
			return nil, err
		}
		after := *before
		u = &after
		var what []string
		if up.Role != nil && *up.Role != after.Role {
			what = append(what, fmt.Sprintf("role %s → %s", after.Role, *up.Role))
			after.Role = *up.Role
		}
		if up.Disabled != nil && *up.Disabled != (after.DisabledAt != nil) {
			if *up.Disabled {
				t := model.NewTime(w.now)
				after.DisabledAt = &t
				what = append(what, "disabled")
			} else {
				after.DisabledAt = nil
				what = append(what, "enabled")
			}
		}
		if up.Password != nil {
			hash = newHash
			what = append(what, "password changed")
		}
		if len(what) == 0 {
			return nil, nil
		}
		wasOwner := before.Role == model.RoleOwner && before.DisabledAt == nil
		if isOwner := after.Role == model.RoleOwner && after.DisabledAt == nil; wasOwner && !isOwner {
			n, err := enabledOwners(w.tx)
			if err != nil {
				return nil, err
			}
			if n <= 1 {
				return nil, model.Errorf(model.EConflict, "%s is the last enabled owner: make another user an owner first", before.ID)
			}
		}
		after.UpdatedAt = model.NewTime(w.now)
		endSessions := up.Password != nil || after.DisabledAt != nil && before.DisabledAt == nil
		return func() error {
			if err := putUser(w.tx, u, hash, false); err != nil {
				return err
			}
			if endSessions {
				if _, err := consoleSessions.trim(w.tx, keyOf(model.PrefixUser, u.ID), 0); err != nil {
					return err
				}
			}
			return w.auditf("user.updated", u.ID, "%s", strings.Join(what, ", "))
		}, nil
	})
	return u, err
}

// dummyHash is checked against when no user has the email given, so an
// unknown email costs what a wrong password does. It is made at first
// use, as a hash costs tens of milliseconds.
var dummyHash = sync.OnceValue(func() string {
	h, err := password.Hash("referrald: no user has this email")
	if err != nil {
		panic("referrald: cannot hash: " + err.Error())
	}
	return h
})

// Authenticate implements model.UserService. An unknown email is checked
// against a dummy hash, and a disabled user's password is checked too,
// so that each failure costs one hash like a wrong password. A
// successful sign-in records LastSignInAt and, when the password's hash
// was made with older parameters, hashes it again with the current ones.
func (s *Store) Authenticate(ctx context.Context, email, pw string) (*model.User, error) {
	unauthorized := model.Errorf(model.EUnauthorized, "the email or password is wrong, or the user is disabled")
	if len(email) > model.MaxEmailLen || len(pw) > password.MaxLen {
		return nil, unauthorized
	}
	var u *model.User
	var hash string
	err := s.view(func(tx *bolt.Tx) (err error) {
		u, hash, err = userByEmail(tx, email)
		return err
	})
	if err != nil {
		return nil, err
	}
	if u == nil {
		password.Verify(pw, dummyHash())
		return nil, unauthorized
	}
	if ok, err := password.Verify(pw, hash); err != nil || !ok || u.DisabledAt != nil {
		return nil, unauthorized
	}
	rehash := hash
	if password.NeedsRehash(hash) {
		if h, err := password.Hash(pw); err == nil {
			rehash = h
		}
	}
	err = s.update(func(w *wtx) (func() error, error) {
		now, stored, err := getUser(w.tx, u.ID)
		// Disabled, or given a new password, since the read: the password
		// checked is no longer the user's.
		if err != nil || now.DisabledAt != nil || stored != hash {
			return nil, unauthorized
		}
		u = now
		t := model.NewTime(w.now)
		u.LastSignInAt = &t
		return func() error { return putUser(w.tx, u, rehash, false) }, nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// newToken returns a secret token, 32 random bytes in base64url, and its
// SHA-256, which is all the store keeps of it.
func newToken() (string, [32]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", [32]byte{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, sha256.Sum256([]byte(token)), nil
}

// The setup link: while no user exists, serve makes a setup token and
// prints its link; whoever opens it first makes the first owner. Tokens
// are kept as hash → expiry (Unix ms), found by their hash. Looking a
// token up by its SHA-256 leaks nothing through timing that helps to
// guess one: an attacker cannot steer the hash.

// CreateSetupToken implements model.UserService. Expired tokens are
// deleted as a new one is made.
func (s *Store) CreateSetupToken(ctx context.Context, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("create setup token: ttl %v is not positive", ttl)
	}
	token, hash, err := newToken()
	if err != nil {
		return "", err
	}
	err = s.update(func(w *wtx) (func() error, error) {
		if anyUser(w.tx) {
			return nil, model.Errorf(model.EConflict, "a console user exists: the setup link only makes the first")
		}
		return func() error {
			if err := deleteSetupTokens(w.tx, false, w.now); err != nil {
				return err
			}
			return w.tx.Bucket(bucketSetupTokens).Put(hash[:], binary.BigEndian.AppendUint64(nil, uint64(w.now.Add(ttl).UnixMilli())))
		}, nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// deleteSetupTokens deletes the setup tokens that have expired at now
// and, when all is set, every other one too.
func deleteSetupTokens(tx *bolt.Tx, all bool, now time.Time) error {
	b := tx.Bucket(bucketSetupTokens)
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if all || setupExpired(v, now) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// setupExpired reports whether a setup token's record says it has
// expired at now (or cannot be read).
func setupExpired(v []byte, now time.Time) bool {
	return len(v) != 8 || now.UnixMilli() >= int64(binary.BigEndian.Uint64(v))
}

// setupValid reports whether tx holds the setup token with this hash,
// unexpired at now.
func setupValid(tx *bolt.Tx, hash [32]byte, now time.Time) bool {
	v := tx.Bucket(bucketSetupTokens).Get(hash[:])
	return v != nil && !setupExpired(v, now)
}

// RedeemSetupToken implements model.UserService: it makes the first
// owner (in.Role is ignored) and deletes every setup token, in one
// transaction. The token is checked before the form, so that without a
// valid one nothing about the form is told. The change is audited by
// the actor ctx carries or, without one, by the new owner.
func (s *Store) RedeemSetupToken(ctx context.Context, token string, in model.UserCreate) (u *model.User, err error) {
	unauthorized := model.Errorf(model.EUnauthorized, "this setup link is not valid: it was used, or it expired (restart referrald for a new one)")
	if token == "" || len(token) > maxTokenLen {
		return nil, unauthorized
	}
	hash := sha256.Sum256([]byte(token))
	err = s.view(func(tx *bolt.Tx) error {
		if !setupValid(tx, hash, s.now()) {
			return unauthorized
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	in.Role = model.RoleOwner
	if err := in.Validate().Err(); err != nil {
		return nil, err
	}
	pwHash, err := password.Hash(in.Password)
	if err != nil {
		return nil, err
	}
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		if !setupValid(w.tx, hash, w.now) {
			return nil, unauthorized
		}
		if anyUser(w.tx) {
			return nil, model.Errorf(model.EConflict, "a console user exists: the setup link only makes the first")
		}
		u = newUser(w.newKey(), in, w.now)
		return func() error {
			if err := putUser(w.tx, u, pwHash, true); err != nil {
				return err
			}
			if err := deleteSetupTokens(w.tx, true, w.now); err != nil {
				return err
			}
			actor := w.actor
			if actor == nil {
				actor = &model.Actor{Kind: model.ActorUser, ID: u.ID, Label: u.Email}
			}
			return w.putAudit(actor, "user.created", u.ID, "role owner, the first user, through the setup link")
		}, nil
	})
	return u, err
}
