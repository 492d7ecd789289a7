package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.APIKeyService = (*Store)(nil)

// TokenPrefix starts every token referrald issues, so a leaked one is easy
// to recognise (and for secret scanners to find).
const TokenPrefix = "rfd_"

// maxTokenLen bounds what is hashed for a presented token.
const maxTokenLen = 256

func encodeAPIKey(k *model.APIKey, hash []byte) []byte {
	e := newEncoder()
	e.str(k.Name)
	e.str(string(k.Scope))
	e.bytes(hash)
	e.time(k.CreatedAt)
	if k.RevokedAt == nil {
		e.byte(0)
	} else {
		e.byte(1)
		e.time(*k.RevokedAt)
	}
	return e.b
}

func decodeAPIKey(key, val []byte) (*model.APIKey, []byte, error) {
	d := newDecoder(val)
	k := &model.APIKey{ID: model.FormatID(model.PrefixAPIKey, [16]byte(key))}
	k.Name = d.str()
	k.Scope = model.Scope(d.str())
	hash := d.bytes()
	k.CreatedAt = d.time()
	if d.byte() == 1 {
		t := d.time()
		k.RevokedAt = &t
	}
	return k, hash, d.err
}

// CreateAPIKey implements model.APIKeyService.
func (s *Store) CreateAPIKey(ctx context.Context, in model.APIKeyCreate) (*model.APIKey, string, error) {
	if err := in.Validate().Err(); err != nil {
		return nil, "", err
	}
	name, scope := in.Name, in.Scope
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, "", err
	}
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(secret)
	hash := sha256.Sum256([]byte(token))
	var k *model.APIKey
	err := s.updateAs(ctx, func(w *wtx) (func() error, error) {
		key := w.newKey()
		k = &model.APIKey{ID: model.FormatID(model.PrefixAPIKey, key), Name: name, Scope: scope, CreatedAt: model.NewTime(w.now)}
		return func() error {
			if err := w.tx.Bucket(bucketAPIKeys).Put(key[:], encodeAPIKey(k, hash[:])); err != nil {
				return err
			}
			if err := w.tx.Bucket(bucketAPIKeysByHash).Put(hash[:], key[:]); err != nil {
				return err
			}
			return w.auditf("api_key.created", k.ID, "name %q, scope %s", k.Name, k.Scope)
		}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return k, token, nil
}

// AuthenticateToken implements model.APIKeyService. The token's SHA-256
// finds the key; the stored hash is then compared in constant time, and a
// revoked key is refused like an unknown one.
func (s *Store) AuthenticateToken(ctx context.Context, token string) (k *model.APIKey, err error) {
	unauthorized := model.Errorf(model.EUnauthorized, "the API key is missing, invalid or revoked")
	if token == "" || len(token) > maxTokenLen {
		return nil, unauthorized
	}
	hash := sha256.Sum256([]byte(token))
	err = s.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketAPIKeysByHash).Get(hash[:])
		if len(id) != 16 {
			return unauthorized
		}
		var stored []byte
		k, stored, err = decodeAPIKey(id, tx.Bucket(bucketAPIKeys).Get(id))
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(stored, hash[:]) != 1 || k.RevokedAt != nil {
			return unauthorized
		}
		return nil
	})
	return k, err
}

// FindAPIKeyByID implements model.APIKeyService.
func (s *Store) FindAPIKeyByID(ctx context.Context, id string) (k *model.APIKey, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		k, err = getRecord(tx, bucketAPIKeys, model.PrefixAPIKey, id, func(key, val []byte) (*model.APIKey, error) {
			k, _, err := decodeAPIKey(key, val)
			return k, err
		})
		return err
	})
	return k, err
}

// FindAPIKeys implements model.APIKeyService: keys newest first,
// revoked ones included.
func (s *Store) FindAPIKeys(ctx context.Context, opt model.ListOptions) (p model.Page[*model.APIKey], err error) {
	load := func(tx *bolt.Tx, key []byte) (*model.APIKey, bool, error) {
		k, _, err := decodeAPIKey(key, tx.Bucket(bucketAPIKeys).Get(key))
		return k, true, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucketAPIKeys, nil, model.PrefixAPIKey, opt, load)
		return err
	})
	return p, err
}

// RevokeAPIKey implements model.APIKeyService. Revoking twice keeps the
// first revocation time.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) (k *model.APIKey, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		key, ok := model.ParseID(model.PrefixAPIKey, id)
		v := w.tx.Bucket(bucketAPIKeys).Get(key[:])
		if !ok || v == nil {
			return nil, model.NotFound(model.PrefixAPIKey, id)
		}
		var hash []byte
		if k, hash, err = decodeAPIKey(key[:], v); err != nil {
			return nil, err
		}
		if k.RevokedAt != nil {
			return nil, nil
		}
		t := model.NewTime(w.now)
		k.RevokedAt = &t
		return func() error {
			if err := w.tx.Bucket(bucketAPIKeys).Put(key[:], encodeAPIKey(k, hash)); err != nil {
				return err
			}
			return w.auditf("api_key.revoked", k.ID, "name %q, scope %s", k.Name, k.Scope)
		}, nil
	})
	return k, err
}
