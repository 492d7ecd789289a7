package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/referrald/referrald/model"
)

// The store's layout: every bucket, the schema version and the
// migrations that bring an older store up to it.

// Buckets. Index buckets are named after what they index.
var (
	bucketMeta                        = []byte("meta")
	bucketPrograms                    = []byte("programs")
	bucketAmbassadors                 = []byte("ambassadors")
	bucketAmbassadorsByEmail          = []byte("ambassadors_by_email")
	bucketAmbassadorsByStatus         = []byte("ambassadors_by_status")
	bucketPlacements                  = []byte("placements")
	bucketImpressions                 = []byte("impressions")
	bucketImpressionsByProgram        = []byte("impressions_by_program")
	bucketImpressionsByAmbassador     = []byte("impressions_by_ambassador")
	bucketImpressionsByPlacement      = []byte("impressions_by_placement")
	bucketReferrals                   = []byte("referrals")
	bucketReferralsByStatus           = []byte("referrals_by_status")
	bucketReferralsByEmail            = []byte("referrals_by_email")
	bucketReferralsByProgramStatus    = []byte("referrals_by_program_status")
	bucketReferralsByAmbassadorStatus = []byte("referrals_by_ambassador_status")
	bucketReferralsByImpression       = []byte("referrals_by_impression")
	bucketIdempotency                 = []byte("idempotency")
	bucketIdempotencyExpiry           = []byte("idempotency_expiry")
	bucketOutbox                      = []byte("outbox")
	bucketAPIKeys                     = []byte("api_keys")
	bucketAPIKeysByHash               = []byte("api_keys_by_hash")

	// bucketIdempotencyByRecord maps a record key to the idempotency
	// entry whose snapshot holds the record.
	bucketIdempotencyByRecord = []byte("idempotency_by_record")
	// bucketOutboxBySubject indexes events by the record they report
	// (subject key ‖ event key), so erasing a person's data can find
	// every event that carries it.
	bucketOutboxBySubject = []byte("outbox_by_subject")
	// bucketCounters holds the per-day counters (counter.go).
	bucketCounters = []byte("counters")

	bucketPlacementsByCode       = []byte("placements_by_code")
	bucketPlacementsByProgram    = []byte("placements_by_program")
	bucketPlacementsByAmbassador = []byte("placements_by_ambassador")
	// bucketScanRecent holds placement ‖ IP hash → time of the last scan,
	// to tell a repeat scan from a new visitor.
	bucketScanRecent = []byte("scan_recent")

	bucketEarnings                = []byte("earnings")
	bucketEarningsByReferral      = []byte("earnings_by_referral")
	bucketEarningsByProgram       = []byte("earnings_by_program")
	bucketEarningsByAmbassador    = []byte("earnings_by_ambassador")
	bucketEarningsByStatus        = []byte("earnings_by_status")
	bucketEarningsByExternalID    = []byte("earnings_by_external_id")
	bucketCommissions             = []byte("commissions")
	bucketCommissionsByAmbassador = []byte("commissions_by_ambassador")
	bucketCommissionsByEarning    = []byte("commissions_by_earning")
	bucketPayouts                 = []byte("payouts")
	// bucketCommissionsAwaiting orders the pending commissions for
	// review (commission.go).
	bucketCommissionsAwaiting = []byte("commissions_awaiting_approval")
)

// Hook delivery state. Keys that belong to a plugin start with its name
// and a 0 byte (names never hold one), then the event key:
//
//	hook_cursors       name → event key of the last event done
//	hook_dead_letters  name ‖ 0 ‖ event key → dead letter
//	hook_retries       name ‖ 0 ‖ event key → empty (queued by an operator)
//	hook_results       event key ‖ name → result (event order across plugins)
var (
	bucketHookCursors     = []byte("hook_cursors")
	bucketHookDeadLetters = []byte("hook_dead_letters")
	bucketHookRetries     = []byte("hook_retries")
	bucketHookResults     = []byte("hook_results")
)

// The journals' roots (journal.go): each holds a bucket per generation,
// sequence (8) → entry key (32) ‖ entry value.
var (
	bucketIdempotencyJournal = []byte("idempotency_journal")
	bucketEmailJournal       = []byte("referrals_by_email_journal")
)

// The console's users, their sessions and the audit log (user.go,
// session.go, audit.go):
//
//	users             user key → user (with its password hash)
//	users_by_email    hash of the email's EmailKey → user key
//	sessions          SHA-256 of the session token → session
//	sessions_by_user  user key ‖ session key → SHA-256 of its token
//	setup_tokens      SHA-256 of a setup token → its expiry
//	audit             entry key → audit entry
//	audit_by_actor    hash of the actor's ID ‖ entry key
//	audit_by_subject  hash of the subject ‖ entry key
//	audit_by_action   hash of the action ‖ entry key
var (
	bucketUsers          = []byte("users")
	bucketUsersByEmail   = []byte("users_by_email")
	bucketSessions       = []byte("sessions")
	bucketSessionsByUser = []byte("sessions_by_user")
	bucketSetupTokens    = []byte("setup_tokens")
	bucketAudit          = []byte("audit")
	bucketAuditByActor   = []byte("audit_by_actor")
	bucketAuditBySubject = []byte("audit_by_subject")
	bucketAuditByAction  = []byte("audit_by_action")
)

// The ambassador portal (portal.go):
//
//	portal_links                      SHA-256 of a magic link's token → ambassador key ‖ expiry
//	portal_links_by_expiry            expiry (ms, 8) ‖ SHA-256 of the token, to prune
//	portal_sessions                   SHA-256 of the session token → session
//	portal_sessions_by_ambassador     ambassador key ‖ session key → SHA-256 of its token
var (
	bucketPortalLinks                = []byte("portal_links")
	bucketPortalLinksByExpiry        = []byte("portal_links_by_expiry")
	bucketPortalSessions             = []byte("portal_sessions")
	bucketPortalSessionsByAmbassador = []byte("portal_sessions_by_ambassador")
)

// Webhook endpoints (webhook.go), by endpoint key; their delivery uses
// the hook buckets above under model.WebhookConsumer(id):
//
//	webhook_endpoints   endpoint key → endpoint (JSON)
//	webhook_secrets     endpoint key → its signing secrets (JSON)
//	webhook_progress    endpoint key → the event being delivered, its attempts and the next one's time
//	webhook_attempts    endpoint key ‖ attempt key → attempt (JSON)
var (
	bucketWebhookEndpoints = []byte("webhook_endpoints")
	bucketWebhookSecrets   = []byte("webhook_secrets")
	bucketWebhookProgress  = []byte("webhook_progress")
	bucketWebhookAttempts  = []byte("webhook_attempts")
)

// Integrations (api/stripe.go): earnings_by_reference maps the hash of an
// integration's reference to an earning (model.EarningCreate.Reference),
// such as the Stripe payment its refunds name.
var bucketEarningsByReference = []byte("earnings_by_reference")

// bucketPosterDesigns holds each program's poster design (JSON) by
// program key, bucketPosterLogos its logo's PNG.
var (
	bucketPosterDesigns = []byte("poster_designs")
	bucketPosterLogos   = []byte("poster_logos")
)

// Print runs (printrun.go):
//
//	print_runs             run key → run
//	print_runs_by_program  program key ‖ run key
var (
	bucketPrintRuns          = []byte("print_runs")
	bucketPrintRunsByProgram = []byte("print_runs_by_program")
)

// allBuckets are created at open.
var allBuckets = [][]byte{
	bucketMeta, bucketPrograms, bucketAmbassadors, bucketAmbassadorsByEmail, bucketAmbassadorsByStatus,
	bucketPlacements, bucketImpressions, bucketImpressionsByProgram, bucketImpressionsByAmbassador,
	bucketImpressionsByPlacement, bucketReferrals,
	bucketReferralsByStatus, bucketReferralsByEmail, bucketReferralsByProgramStatus,
	bucketReferralsByAmbassadorStatus, bucketReferralsByImpression, bucketIdempotency, bucketIdempotencyExpiry, bucketOutbox,
	bucketAPIKeys, bucketAPIKeysByHash,
	bucketHookCursors, bucketHookDeadLetters, bucketHookRetries, bucketHookResults,
	bucketIdempotencyByRecord, bucketOutboxBySubject, bucketCounters,
	bucketPlacementsByCode, bucketPlacementsByProgram, bucketPlacementsByAmbassador, bucketScanRecent,
	bucketEarnings, bucketEarningsByReferral, bucketEarningsByProgram, bucketEarningsByAmbassador, bucketEarningsByStatus,
	bucketEarningsByExternalID, bucketCommissions, bucketCommissionsByAmbassador, bucketCommissionsByEarning, bucketPayouts,
	bucketCommissionsAwaiting,
	bucketIdempotencyJournal, bucketEmailJournal,
	bucketUsers, bucketUsersByEmail, bucketSessions, bucketSessionsByUser, bucketSetupTokens,
	bucketAudit, bucketAuditByActor, bucketAuditBySubject, bucketAuditByAction,
	bucketPortalLinks, bucketPortalLinksByExpiry, bucketPortalSessions, bucketPortalSessionsByAmbassador,
	bucketWebhookEndpoints, bucketWebhookSecrets, bucketWebhookProgress, bucketWebhookAttempts,
	bucketEarningsByReference,
	bucketPosterDesigns, bucketPosterLogos,
	bucketRecordsAsCreated,
	bucketPrintRuns, bucketPrintRunsByProgram,
}

// schemaVersion is the layout this code reads and writes. A store written by
// a newer referrald is refused rather than misread.
const schemaVersion = 15

// Keys of the meta bucket (besides each secret's, "secret:" ‖ name).
var (
	keySchemaVersion = []byte("schema_version")
	// keyRetentionCursor remembers how far scan data has been scrubbed,
	// so a sweep walks only what aged past the retention since the last.
	keyRetentionCursor = []byte("retention_cursor")
	// keyApprovalsEmitted is how far the sweep has written the approval
	// events of commissions the time approved (commission.go).
	keyApprovalsEmitted = []byte("approvals_emitted")
)

// migrate creates the buckets and checks the schema version. Later layouts
// add their steps here, each moving the version up by one.
func (s *Store) migrate(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keySchemaVersion)
	setVersion := func() error { return meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, schemaVersion)) }
	if err := startApprovalEvents(tx, s.now()); err != nil {
		return err
	}
	switch {
	case v == nil:
		return setVersion()
	case len(v) != 8:
		return fmt.Errorf("corrupt schema version")
	}
	version := binary.BigEndian.Uint64(v)
	if version > schemaVersion {
		return fmt.Errorf("store has schema version %d; this referrald reads up to %d", version, schemaVersion)
	}
	// Each step moves a store up one version, in order.
	steps := map[uint64]func(*bolt.Tx) error{
		1: rebuildCounters,          // 1 → 2: per-day counters, counted from the records
		2: indexReferralImpressions, // 2 → 3: referrals by impression, for fraud signals
		3: indexForErasure,          // 3 → 4: events by subject, idempotency snapshots by record
		4: compactReferrals,         // 4 → 5: tagged idempotency snapshots, no status-less referral indexes
		5: countBotsApart,           // 5 → 6: bot scans counted apart, so the funnel can leave them out
		// 6 → 7: the idempotency journal, which Open starts; an older
		// referrald would not look there.
		6: func(*bolt.Tx) error { return nil },
		// 7 → 8: the email index journal, likewise.
		7: func(*bolt.Tx) error { return nil },
		// 8 → 9: each subject's total, so reads without a date range cost
		// a key; and placement_batches goes, which older posters wrote and
		// nothing read.
		8: func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket([]byte("placement_batches")); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
			return countAllDays(tx)
		},
		// 9 → 10: the impressions that led to a referral, the numerator
		// of the scan-to-signup rate.
		9: countImpressionsWithReferral,
		// 10 → 11: the console's users, sessions, setup links and audit
		// log, whose buckets are made above. An older referrald would
		// neither check the users nor keep the audit log, so it must
		// refuse the store.
		10: func(*bolt.Tx) error { return nil },
		// 11 → 12: commissions held by hand, which an older referrald
		// would approve when their hold period ends, and the queue of
		// those awaiting approval.
		11: indexAwaitingCommissions,
		// 12 → 13: the ambassador portal's links and sessions and the
		// webhook endpoints, whose buckets are made above, and the events
		// of commissions, approvals and payouts, which an older referrald
		// would not write (nor keep the outbox for the endpoints).
		12: func(*bolt.Tx) error { return nil },
		// 13 → 14: programs' poster designs and logos, which an older
		// referrald would ignore, printing plain posters; and print runs
		// (print_runs, print_runs_by_program), which it would not list.
		13: func(*bolt.Tx) error { return nil },
		// 14 → 15: idempotency entries that read their record where it
		// lives, which an older referrald cannot replay; the outbox keeps
		// the events older entries replay from until they expire. It
		// depends on no other step, so it may take any number.
		14: func(tx *bolt.Tx) error { return pinEventReplays(tx, s.now()) },
	}
	for ; version < schemaVersion; version++ {
		if err := steps[version](tx); err != nil {
			return fmt.Errorf("migrate schema %d → %d: %w", version, version+1, err)
		}
	}
	return setVersion()
}

// indexReferralImpressions builds referrals_by_impression from the
// referrals.
func indexReferralImpressions(tx *bolt.Tx) error {
	idx := tx.Bucket(bucketReferralsByImpression)
	return tx.Bucket(bucketReferrals).ForEach(func(k, v []byte) error {
		r, err := decodeReferral(k, v)
		if err != nil {
			return err
		}
		imp := keyOf(model.PrefixImpression, r.ImpressionID)
		return idx.Put(cat(imp[:], k), empty)
	})
}

// indexForErasure builds the indexes that let erasure find every copy of
// a record: its events (by the id in their payload) and its idempotency
// snapshot.
func indexForErasure(tx *bolt.Tx) error {
	bySubject := tx.Bucket(bucketOutboxBySubject)
	err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		ev, err := decodeEvent(k, v)
		if err != nil {
			return err
		}
		if key, ok := subjectInData(ev.Data); ok {
			return bySubject.Put(cat(key[:], k), empty)
		}
		return nil
	})
	if err != nil {
		return err
	}
	byRecord := tx.Bucket(bucketIdempotencyByRecord)
	return tx.Bucket(bucketIdempotency).ForEach(func(k, v []byte) error {
		if len(v) >= idemHeader+16 {
			return byRecord.Put(v[idemHeader:idemHeader+16], k)
		}
		return nil
	})
}

// compactReferrals drops the referral indexes by program and by
// ambassador, which their by-status twins now serve, and marks every
// idempotency snapshot written before snapshots could live in events as kept
// inline.
func compactReferrals(tx *bolt.Tx) error {
	for _, name := range []string{"referrals_by_program", "referrals_by_ambassador"} {
		if err := tx.DeleteBucket([]byte(name)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
	}
	entries := tx.Bucket(bucketIdempotency)
	var keys, vals [][]byte
	err := entries.ForEach(func(k, v []byte) error {
		if len(v) > idemHeader {
			keys = append(keys, bytes.Clone(k))
			vals = append(vals, append(append(bytes.Clone(v[:idemHeader]), snapInline), v[idemHeader:]...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, k := range keys {
		if err := entries.Put(k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// rebuildCounters replaces every counter with a recount (a migration
// step for stores that predate counters).
func rebuildCounters(tx *bolt.Tx) error {
	counts, err := recount(tx)
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(bucketCounters); err != nil {
		return err
	}
	b, err := tx.CreateBucket(bucketCounters)
	if err != nil {
		return err
	}
	for k, c := range counts {
		if err := b.Put([]byte(k), encodeCounts(c)); err != nil {
			return err
		}
	}
	return nil
}

// countBotsApart adds the bot scans to the counters of a store that
// counted them only among the excluded ones. It reads the impressions and
// rewrites just the counters that have bots, so it costs one pass over
// the impressions, not a recount of everything.
func countBotsApart(tx *bolt.Tx) error {
	bots := map[string]int64{}
	err := tx.Bucket(bucketImpressions).ForEach(func(k, v []byte) error {
		m, err := decodeImpression(k, v)
		if err != nil {
			return err
		}
		if slices.Contains(m.Flags, model.FlagBot) {
			// Day counters only: the totals over all days came later (schema 9).
			day := dayKey(dayOf(model.IDTime([16]byte(k))))
			for _, p := range (subject{m.ProgramID, m.AmbassadorID, m.PlacementID}).prefixes() {
				bots[string(cat(p, day))]++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketCounters)
	for k, n := range bots {
		c, err := decodeCounts(b.Get([]byte(k)))
		if err != nil {
			return fmt.Errorf("counter %q: %w", k, err)
		}
		c.BotImpressions = n
		if err := b.Put([]byte(k), encodeCounts(&c)); err != nil {
			return err
		}
	}
	return nil
}

// countImpressionsWithReferral adds to each counter, day and total, the
// counted impressions that led to a referral (schema 9 → 10). It walks
// the referrals-by-impression index, so it costs a pass over the
// referrals, not a recount of everything.
func countImpressionsWithReferral(tx *bolt.Tx) error {
	led := map[string]int64{}
	imps := tx.Bucket(bucketImpressions)
	var last []byte
	err := tx.Bucket(bucketReferralsByImpression).ForEach(func(k, _ []byte) error {
		if len(k) < 16 || bytes.Equal(k[:16], last) {
			return nil
		}
		last = bytes.Clone(k[:16])
		m, err := decodeImpression(last, imps.Get(last))
		if err != nil {
			return fmt.Errorf("impression of referral index entry %x: %w", k, err)
		}
		if len(m.Flags) > 0 {
			return nil
		}
		for _, ck := range impressionSubject(m).keys(dayOf(model.IDTime([16]byte(last)))) {
			led[string(ck)]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketCounters)
	for _, k := range slices.Sorted(maps.Keys(led)) {
		c, err := decodeCounts(b.Get([]byte(k)))
		if err != nil {
			return fmt.Errorf("counter %q: %w", k, err)
		}
		c.ImpressionsWithReferral = led[k]
		if err := b.Put([]byte(k), encodeCounts(&c)); err != nil {
			return err
		}
	}
	return nil
}

// countAllDays adds each subject's total over all days, summed from its
// day counters, to a store that had only those (schema 8 → 9).
func countAllDays(tx *bolt.Tx) error {
	b := tx.Bucket(bucketCounters)
	totals := map[string]*model.Counts{}
	err := b.ForEach(func(k, v []byte) error {
		if len(k) <= 4 || binary.BigEndian.Uint32(k[len(k)-4:]) == allDays {
			return nil
		}
		c, err := decodeCounts(v)
		if err != nil {
			return fmt.Errorf("counter %q: %w", k, err)
		}
		prefix := string(k[:len(k)-4])
		total := totals[prefix]
		if total == nil {
			total = &model.Counts{}
			totals[prefix] = total
		}
		total.Add(c)
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(totals)) {
		if err := b.Put(cat([]byte(p), dayKey(allDays)), encodeCounts(totals[p])); err != nil {
			return err
		}
	}
	return nil
}

// indexAwaitingCommissions builds commissions_awaiting_approval from the
// commissions stored pending; none is held yet.
func indexAwaitingCommissions(tx *bolt.Tx) error {
	return tx.Bucket(bucketCommissions).ForEach(func(k, v []byte) error {
		c, err := decodeCommission(k, v)
		if err != nil {
			return err
		}
		return putAwaiting(tx, c)
	})
}
