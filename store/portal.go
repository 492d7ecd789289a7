package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.PortalService = (*Store)(nil)

// The portal's magic links and sessions. A link's token, like a session's,
// is given out once and kept only as its SHA-256, under which it is found;
// a link is spent by the first redeem, and one never redeemed is pruned by
// the sweep once expired.

func encodePortalLink(amb [16]byte, expires time.Time) []byte {
	return binary.BigEndian.AppendUint64(amb[:], uint64(expires.UnixMilli()))
}

func decodePortalLink(v []byte) (amb [16]byte, expires time.Time, err error) {
	if len(v) != 24 {
		return amb, expires, errCorrupt
	}
	return [16]byte(v), time.UnixMilli(int64(binary.BigEndian.Uint64(v[16:]))), nil
}

func linkExpiryKey(expires time.Time, hash []byte) []byte {
	return cat(binary.BigEndian.AppendUint64(nil, uint64(expires.UnixMilli())), hash)
}

// getSignInAmbassador reads the ambassador of key, and whether they may
// sign in: nil, false when they no longer exist.
func getSignInAmbassador(tx *bolt.Tx, key [16]byte) (*model.Ambassador, bool, error) {
	v := tx.Bucket(bucketAmbassadors).Get(key[:])
	if v == nil {
		return nil, false, nil
	}
	a, err := decodeAmbassador(key[:], v)
	if err != nil {
		return nil, false, err
	}
	return a, a.CanSignIn(), nil
}

// CreatePortalLink implements model.PortalService.
func (s *Store) CreatePortalLink(ctx context.Context, ambassadorID string, ttl time.Duration) (link *model.PortalLink, err error) {
	if ttl <= 0 {
		ttl = model.PortalLinkTTL
	}
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		a, err := getRecord(w.tx, bucketAmbassadors, model.PrefixAmbassador, ambassadorID, decodeAmbassador)
		if err != nil {
			return nil, err
		}
		if !a.CanSignIn() {
			return nil, model.Errorf(model.EConflict, "ambassador %s is %s and cannot sign in to the portal", a.ID, a.Status)
		}
		return func() error {
			// Whoever holds the link can act as the ambassador in the
			// portal, so making one is on the record.
			if err := w.auditf("ambassador.portal_link_created", a.ID, "valid for %s", ttl); err != nil {
				return err
			}
			token, hash, err := newToken()
			if err != nil {
				return err
			}
			expires := w.now.Add(ttl)
			if err := w.tx.Bucket(bucketPortalLinks).Put(hash[:], encodePortalLink(keyOf(model.PrefixAmbassador, a.ID), expires)); err != nil {
				return err
			}
			link = &model.PortalLink{Token: token, ExpiresAt: model.NewTime(expires)}
			return w.tx.Bucket(bucketPortalLinksByExpiry).Put(linkExpiryKey(expires, hash[:]), empty)
		}, nil
	})
	return link, err
}

// RedeemPortalLink implements model.PortalService. The link is spent
// whether or not it still signs in: an expired one, or one of an
// ambassador since deactivated, is deleted too.
func (s *Store) RedeemPortalLink(ctx context.Context, token string) (sess *model.PortalSession, sessToken string, err error) {
	unauthorized := model.Errorf(model.EUnauthorized, "this sign-in link has expired or has been used")
	if token == "" || len(token) > maxTokenLen {
		return nil, "", unauthorized
	}
	hash := sha256.Sum256([]byte(token))
	signIn := false
	err = s.update(func(w *wtx) (func() error, error) {
		v := w.tx.Bucket(bucketPortalLinks).Get(hash[:])
		if v == nil {
			return nil, unauthorized
		}
		amb, expires, err := decodePortalLink(v)
		if err != nil {
			return nil, err
		}
		_, ok, err := getSignInAmbassador(w.tx, amb)
		if err != nil {
			return nil, err
		}
		signIn = ok && w.now.Before(expires)
		return func() error {
			if err := w.tx.Bucket(bucketPortalLinks).Delete(hash[:]); err != nil {
				return err
			}
			if err := w.tx.Bucket(bucketPortalLinksByExpiry).Delete(linkExpiryKey(expires, hash[:])); err != nil {
				return err
			}
			if !signIn {
				return nil
			}
			r, t, err := portalSessions.start(w, amb)
			if err == nil {
				sess, sessToken = r.portalSession(), t
			}
			return err
		}, nil
	})
	if err == nil && !signIn {
		err = unauthorized
	}
	if err != nil {
		return nil, "", err
	}
	return sess, sessToken, nil
}

func (r *sessionRecord) portalSession() *model.PortalSession {
	return &model.PortalSession{ID: model.FormatID(model.PrefixPortalSession, r.key),
		AmbassadorID: model.FormatID(model.PrefixAmbassador, r.userKey), CreatedAt: r.createdAt, LastSeenAt: r.seenAt}
}

// PortalSessionByToken implements model.PortalService.
func (s *Store) PortalSessionByToken(ctx context.Context, token string, idle, absolute time.Duration) (*model.PortalSession, *model.Ambassador, error) {
	r, a, err := liveSession(s, portalSessions, token, idle, absolute, func(tx *bolt.Tx, r *sessionRecord) (*model.Ambassador, bool, error) {
		return getSignInAmbassador(tx, r.userKey)
	})
	if err != nil {
		return nil, nil, err
	}
	return r.portalSession(), a, nil
}

// EndPortalSession implements model.PortalService.
func (s *Store) EndPortalSession(ctx context.Context, token string) error {
	return s.endSession(portalSessions, token)
}

// RequestPortalLink implements model.PortalService.
func (s *Store) RequestPortalLink(ctx context.Context, ambassadorID, via string) error {
	return s.updateAs(ctx, func(w *wtx) (func() error, error) {
		a, err := getRecord(w.tx, bucketAmbassadors, model.PrefixAmbassador, ambassadorID, decodeAmbassador)
		if err != nil {
			return nil, err
		}
		if !a.CanSignIn() {
			return nil, model.Errorf(model.EConflict, "ambassador %s is %s and cannot sign in to the portal", a.ID, a.Status)
		}
		return func() error {
			if err := w.auditf("ambassador.portal_link_requested", a.ID, "to be emailed, from the %s", via); err != nil {
				return err
			}
			return s.appendEvent(w.tx, w.now, model.EventPortalLinkRequested, keyOf(model.PrefixAmbassador, a.ID),
				model.PortalLinkRequestedData{AmbassadorID: a.ID, Via: via})
		}, nil
	})
}

// PrunePortalLinks deletes the links that expired by now unused, and
// returns how many.
func (s *Store) PrunePortalLinks(ctx context.Context, now time.Time) (int, error) {
	end := binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))
	return s.inBatches(ctx, sweepBatch, func(w *wtx) (n int, err error) {
		byExpiry := w.tx.Bucket(bucketPortalLinksByExpiry)
		var doomed [][]byte
		c := byExpiry.Cursor()
		for k, _ := c.First(); k != nil && len(doomed) < sweepBatch && bytes.Compare(k[:8], end) < 0; k, _ = c.Next() {
			doomed = append(doomed, bytes.Clone(k))
		}
		for _, k := range doomed {
			if err := byExpiry.Delete(k); err != nil {
				return n, err
			}
			if err := w.tx.Bucket(bucketPortalLinks).Delete(k[8:]); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	})
}
