package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.WebhookService = (*Store)(nil)

// Webhook endpoints. Each enabled endpoint is an outbox consumer named
// model.WebhookConsumer(id), with the hook plugins' cursor, dead-letter and
// retry entries; the records here are the endpoint itself, its signing
// secrets, where its delivery stands and its attempts. The few endpoints
// an install has are kept as JSON.

// webhookAttemptsKept bounds how long attempts are listed.
const webhookAttemptsKept = 30 * 24 * time.Hour

type webhookSecrets struct {
	Current  string    `json:"current"`
	Previous string    `json:"previous,omitempty"`
	Until    time.Time `json:"until,omitzero"`
}

func getWebhookEndpoint(tx *bolt.Tx, id string) (*model.WebhookEndpoint, [16]byte, error) {
	key, ok := model.ParseID(model.PrefixWebhookEndpoint, id)
	v := tx.Bucket(bucketWebhookEndpoints).Get(key[:])
	if !ok || v == nil {
		return nil, key, model.NotFound(model.PrefixWebhookEndpoint, id)
	}
	var e model.WebhookEndpoint
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, key, errCorrupt
	}
	return &e, key, nil
}

func putJSON(tx *bolt.Tx, bucket, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put(key, b)
}

// webhookConsumers are the outbox consumer names of the enabled
// endpoints, or of every endpoint with disabled too.
func webhookConsumers(tx *bolt.Tx, disabled bool) []string {
	var out []string
	tx.Bucket(bucketWebhookEndpoints).ForEach(func(k, v []byte) error {
		var e model.WebhookEndpoint
		if json.Unmarshal(v, &e) == nil && (disabled || !e.Disabled) {
			out = append(out, model.WebhookConsumer(e.ID))
		}
		return nil
	})
	return out
}

// CreateWebhookEndpoint implements model.WebhookService.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, in model.WebhookEndpointCreate) (e *model.WebhookEndpoint, secret string, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		if w.tx.Bucket(bucketWebhookEndpoints).Stats().KeyN >= model.MaxWebhookEndpoints {
			return nil, model.Errorf(model.EConflict, "there are %d webhook endpoints already, the most one install has; delete one first",
				model.MaxWebhookEndpoints)
		}
		key := w.newKey()
		now := model.NewTime(w.now)
		e = &model.WebhookEndpoint{ID: model.FormatID(model.PrefixWebhookEndpoint, key), URL: in.URL, Events: in.Events,
			Description: in.Description, Metadata: in.Metadata, CreatedAt: now, UpdatedAt: now}
		secret = model.NewWebhookSecret()
		return func() error {
			if err := putJSON(w.tx, bucketWebhookEndpoints, key[:], e); err != nil {
				return err
			}
			if err := putJSON(w.tx, bucketWebhookSecrets, key[:], webhookSecrets{Current: secret}); err != nil {
				return err
			}
			// Deliveries start with the events after this one.
			start := startOfOutbox[:]
			if last, _ := w.tx.Bucket(bucketOutbox).Cursor().Last(); last != nil {
				start = bytes.Clone(last)
			}
			if err := w.tx.Bucket(bucketHookCursors).Put([]byte(model.WebhookConsumer(e.ID)), start); err != nil {
				return err
			}
			return w.auditf("webhook_endpoint.created", e.ID, "%s for %d event types", e.URL, len(e.Events))
		}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return e, secret, nil
}

// FindWebhookEndpointByID implements model.WebhookService.
func (s *Store) FindWebhookEndpointByID(ctx context.Context, id string) (e *model.WebhookEndpoint, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		e, _, err = getWebhookEndpoint(tx, id)
		return err
	})
	return e, err
}

// FindWebhookEndpoints implements model.WebhookService.
func (s *Store) FindWebhookEndpoints(ctx context.Context, opt model.ListOptions) (p model.Page[*model.WebhookEndpoint], err error) {
	load := func(tx *bolt.Tx, key []byte) (*model.WebhookEndpoint, bool, error) {
		e, _, err := getWebhookEndpoint(tx, model.FormatID(model.PrefixWebhookEndpoint, [16]byte(key)))
		return e, true, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucketWebhookEndpoints, nil, model.PrefixWebhookEndpoint, opt, load)
		return err
	})
	return p, err
}

// UpdateWebhookEndpoint implements model.WebhookService. An endpoint
// enabled again goes on from where its delivery stopped.
func (s *Store) UpdateWebhookEndpoint(ctx context.Context, id string, u model.WebhookEndpointUpdate) (e *model.WebhookEndpoint, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		var key [16]byte
		if e, key, err = getWebhookEndpoint(w.tx, id); err != nil {
			return nil, err
		}
		before := *e
		u.Apply(e, w.now)
		return func() error {
			if err := putJSON(w.tx, bucketWebhookEndpoints, key[:], e); err != nil {
				return err
			}
			what := "changed"
			if e.Disabled != before.Disabled {
				what = map[bool]string{true: "disabled", false: "enabled"}[e.Disabled]
			}
			return w.auditf("webhook_endpoint.updated", e.ID, "%s", what)
		}, nil
	})
	return e, err
}

// DeleteWebhookEndpoint implements model.WebhookService.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	return s.updateAs(ctx, func(w *wtx) (func() error, error) {
		e, key, err := getWebhookEndpoint(w.tx, id)
		if err != nil {
			return nil, err
		}
		consumer := model.WebhookConsumer(e.ID)
		return func() error {
			for _, b := range [][]byte{bucketWebhookEndpoints, bucketWebhookSecrets, bucketWebhookProgress} {
				if err := w.tx.Bucket(b).Delete(key[:]); err != nil {
					return err
				}
			}
			if err := w.tx.Bucket(bucketHookCursors).Delete([]byte(consumer)); err != nil {
				return err
			}
			for _, p := range []struct {
				bucket, prefix []byte
			}{{bucketHookDeadLetters, pluginPrefix(consumer)}, {bucketHookRetries, pluginPrefix(consumer)}, {bucketWebhookAttempts, key[:]}} {
				if err := deletePrefix(w.tx.Bucket(p.bucket), p.prefix); err != nil {
					return err
				}
			}
			return w.auditf("webhook_endpoint.deleted", e.ID, "%s", e.URL)
		}, nil
	})
}

// deletePrefix deletes every key of b that starts with prefix.
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	var doomed [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		doomed = append(doomed, bytes.Clone(k))
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// RotateWebhookSecret implements model.WebhookService.
func (s *Store) RotateWebhookSecret(ctx context.Context, id string) (secret string, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		e, key, err := getWebhookEndpoint(w.tx, id)
		if err != nil {
			return nil, err
		}
		var old webhookSecrets
		if err := json.Unmarshal(w.tx.Bucket(bucketWebhookSecrets).Get(key[:]), &old); err != nil {
			return nil, errCorrupt
		}
		secret = model.NewWebhookSecret()
		return func() error {
			next := webhookSecrets{Current: secret, Previous: old.Current, Until: w.now.Add(model.WebhookSecretOverlap)}
			if err := putJSON(w.tx, bucketWebhookSecrets, key[:], next); err != nil {
				return err
			}
			return w.auditf("webhook_endpoint.secret_rotated", e.ID, "the old secret signs too until %s",
				next.Until.UTC().Format(time.RFC3339))
		}, nil
	})
	return secret, err
}

// WebhookSecrets implements model.WebhookService.
func (s *Store) WebhookSecrets(ctx context.Context, id string) (out []string, err error) {
	now := s.now()
	err = s.view(func(tx *bolt.Tx) error {
		_, key, err := getWebhookEndpoint(tx, id)
		if err != nil {
			return err
		}
		var sec webhookSecrets
		if err := json.Unmarshal(tx.Bucket(bucketWebhookSecrets).Get(key[:]), &sec); err != nil {
			return errCorrupt
		}
		out = []string{sec.Current}
		if sec.Previous != "" && now.Before(sec.Until) {
			out = append(out, sec.Previous)
		}
		return nil
	})
	return out, err
}

// RecordWebhookAttempt implements model.WebhookService.
func (s *Store) RecordWebhookAttempt(ctx context.Context, a model.WebhookAttempt, health *model.WebhookEndpoint,
	progress *model.WebhookProgress) error {
	return s.update(func(w *wtx) (func() error, error) {
		e, key, err := getWebhookEndpoint(w.tx, a.EndpointID)
		if err != nil {
			return nil, err
		}
		attemptKey := w.newKey()
		a.ID = model.FormatID(model.PrefixWebhookAttempt, attemptKey)
		return func() error {
			if err := putJSON(w.tx, bucketWebhookAttempts, cat(key[:], attemptKey[:]), a); err != nil {
				return err
			}
			if health != nil {
				e.FailingSince = health.FailingSince
				if f := health.FailingSince; f != nil && f.Before(e.UpdatedAt.Time) {
					// Enabled or changed since the run of failures began
					// (which clears it): the run starts again now.
					e.FailingSince = &a.At
				}
				// UpdatedAt stays: it tells when people last changed the
				// endpoint, which the check above relies on.
				if health.Disabled && !e.Disabled {
					e.Disabled, e.DisabledReason, e.DisabledAt = true, health.DisabledReason, health.DisabledAt
					if err := w.auditf("webhook_endpoint.updated", e.ID, "disabled: %s", *e.DisabledReason); err != nil {
						return err
					}
				}
				if err := putJSON(w.tx, bucketWebhookEndpoints, key[:], e); err != nil {
					return err
				}
			}
			if progress == nil {
				return w.tx.Bucket(bucketWebhookProgress).Delete(key[:])
			}
			return putJSON(w.tx, bucketWebhookProgress, key[:], progress)
		}, nil
	})
}

// WebhookProgressOf implements model.WebhookService.
func (s *Store) WebhookProgressOf(ctx context.Context, id string) (p *model.WebhookProgress, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		_, key, err := getWebhookEndpoint(tx, id)
		if err != nil {
			return err
		}
		v := tx.Bucket(bucketWebhookProgress).Get(key[:])
		if v == nil {
			return nil
		}
		p = &model.WebhookProgress{}
		if json.Unmarshal(v, p) != nil {
			return errCorrupt
		}
		return nil
	})
	return p, err
}

// FindWebhookAttempts implements model.WebhookService.
func (s *Store) FindWebhookAttempts(ctx context.Context, endpointID, eventID string, opt model.ListOptions) (p model.Page[*model.WebhookAttempt], err error) {
	err = s.view(func(tx *bolt.Tx) error {
		_, key, err := getWebhookEndpoint(tx, endpointID)
		if err != nil {
			return err
		}
		load := func(tx *bolt.Tx, k []byte) (*model.WebhookAttempt, bool, error) {
			var a model.WebhookAttempt
			if json.Unmarshal(tx.Bucket(bucketWebhookAttempts).Get(cat(key[:], k)), &a) != nil {
				return nil, false, errCorrupt
			}
			return &a, eventID == "" || a.EventID == eventID, nil
		}
		p, err = listPage(tx, bucketWebhookAttempts, key[:], model.PrefixWebhookAttempt, opt, load)
		return err
	})
	return p, err
}

// FindFailedWebhookMessages implements model.WebhookService.
func (s *Store) FindFailedWebhookMessages(ctx context.Context, endpointID string, opt model.ListOptions) (model.Page[*model.DeadLetter], error) {
	e, err := s.FindWebhookEndpointByID(ctx, endpointID)
	if err != nil {
		return model.Page[*model.DeadLetter]{}, err
	}
	return s.FindDeadLetters(ctx, model.WebhookConsumer(e.ID), opt)
}

// RetryWebhookMessage implements model.WebhookService.
func (s *Store) RetryWebhookMessage(ctx context.Context, endpointID, eventID string) error {
	e, err := s.FindWebhookEndpointByID(ctx, endpointID)
	if err != nil {
		return err
	}
	_, err = s.RetryDeadLetters(ctx, model.WebhookConsumer(e.ID), []string{eventID})
	if model.ErrorCode(err) == model.ENotFound {
		return model.Errorf(model.ENotFound, "%s has no failed message %s", e.ID, eventID)
	}
	return err
}

// RetryWebhookMessages implements model.WebhookService.
func (s *Store) RetryWebhookMessages(ctx context.Context, endpointID string, since time.Time) (n int, err error) {
	err = s.updateAs(ctx, func(w *wtx) (func() error, error) {
		e, _, err := getWebhookEndpoint(w.tx, endpointID)
		if err != nil {
			return nil, err
		}
		prefix := pluginPrefix(model.WebhookConsumer(e.ID))
		dead := w.tx.Bucket(bucketHookDeadLetters)
		var keys [][]byte
		c := dead.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			dl, err := decodeDeadLetter("", k[len(prefix):], v)
			if err != nil {
				return nil, err
			}
			if !dl.FailedAt.Before(since) {
				keys = append(keys, bytes.Clone(k))
			}
		}
		n = len(keys)
		return func() error {
			for _, k := range keys {
				if err := dead.Delete(k); err != nil {
					return err
				}
				if err := w.tx.Bucket(bucketHookRetries).Put(k, empty); err != nil {
					return err
				}
			}
			if n == 0 {
				return nil
			}
			return w.auditf("webhook_endpoint.recovered", e.ID, "%d failed messages queued for delivery again", n)
		}, nil
	})
	return n, err
}

// pruneWebhookAttempts deletes the attempts older than before.
func (s *Store) pruneWebhookAttempts(ctx context.Context, before time.Time) (int, error) {
	// The smallest key of the millisecond before: a ULID starts with its
	// time in milliseconds, big-endian.
	var limit [16]byte
	binary.BigEndian.PutUint64(limit[:8], uint64(before.UnixMilli())<<16)
	return s.inBatches(ctx, sweepBatch, func(w *wtx) (n int, err error) {
		var doomed [][]byte
		endpoints := w.tx.Bucket(bucketWebhookEndpoints).Cursor()
		attempts := w.tx.Bucket(bucketWebhookAttempts)
		for ek, _ := endpoints.First(); ek != nil && len(doomed) < sweepBatch; ek, _ = endpoints.Next() {
			c := attempts.Cursor()
			for k, _ := c.Seek(ek); k != nil && bytes.HasPrefix(k, ek) && len(doomed) < sweepBatch &&
				bytes.Compare(k[16:], limit[:]) < 0; k, _ = c.Next() {
				doomed = append(doomed, bytes.Clone(k))
			}
		}
		for _, k := range doomed {
			if err := attempts.Delete(k); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	})
}
