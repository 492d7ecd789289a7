package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

// Per-day counters make the funnel and leaderboard cost a few hundred key
// reads however many records there are. They are updated in the same
// transaction as the records they count, keyed by dimension, subject and
// UTC day, so one subject's days lie together and a date range is one
// cursor walk:
//
//	g ‖ day                 everything
//	p ‖ program ‖ day       a program
//	a ‖ ambassador ‖ day    an ambassador
//	x ‖ program ‖ ambassador ‖ day
//	l ‖ placement ‖ day
//
// Each subject also has a total over all its days, under the day allDays,
// so that a read without a date range, the common one, costs a key per
// subject however long the store has run.
//
// Counts are by cohort (see model.Counts): the day is that of the record a
// count belongs to, the referral for a conversion, the earning for a
// refund, which is what lets recount rebuild them exactly from records.

const (
	dimAll        = 'g'
	dimProgram    = 'p'
	dimAmbassador = 'a'
	dimPair       = 'x'
	dimPlacement  = 'l'
)

// allDays is the day of a subject's total. It sorts after every real day,
// so the total sits beside the subject's latest day and is written to the
// same leaf, and a walk over a date range, which ends before it, never
// reads it.
const allDays = ^uint32(0)

// subject is who a count belongs to.
type subject struct {
	program, ambassador string
	placement           *string
}

func dayOf(t time.Time) uint32 { return uint32(t.Unix() / 86400) }

func dayKey(d uint32) []byte { return binary.BigEndian.AppendUint32(nil, d) }

// prefixes are the keys of s's counters without their day.
func (s subject) prefixes() [][]byte {
	prg, amb := keyOf(model.PrefixProgram, s.program), keyOf(model.PrefixAmbassador, s.ambassador)
	out := [][]byte{
		{dimAll},
		cat([]byte{dimProgram}, prg[:]),
		cat([]byte{dimAmbassador}, amb[:]),
		cat([]byte{dimPair}, prg[:], amb[:]),
	}
	if s.placement != nil {
		plc := keyOf(model.PrefixPlacement, *s.placement)
		out = append(out, cat([]byte{dimPlacement}, plc[:]))
	}
	return out
}

// keys are the counters a count of s on day changes: the day's and the
// total's of each dimension.
func (s subject) keys(day uint32) [][]byte {
	var out [][]byte
	for _, p := range s.prefixes() {
		out = append(out, cat(p, dayKey(day)), cat(p, dayKey(allDays)))
	}
	return out
}

func encodeCounts(c *model.Counts) []byte {
	e := newEncoder()
	for _, v := range []int64{c.Impressions, c.ExcludedImpressions, c.Referrals, c.FlaggedReferrals, c.Conversions, c.FlaggedConversions, c.Rejected} {
		e.varint(v)
	}
	money := slices.Clone(c.Money)
	sort.Slice(money, func(i, j int) bool { return money[i].Currency < money[j].Currency })
	e.uvarint(uint64(len(money)))
	for _, m := range money {
		e.str(m.Currency)
		e.varint(m.Earnings)
		e.varint(m.Amount)
		e.varint(m.Refunded)
		e.varint(m.Commissions)
	}
	// Added after the money (schemas 6 and 10), so older values decode
	// as none.
	e.varint(c.BotImpressions)
	e.varint(c.ImpressionsWithReferral)
	return e.b
}

func decodeCounts(v []byte) (model.Counts, error) {
	var c model.Counts
	d := newDecoder(v)
	for _, p := range []*int64{&c.Impressions, &c.ExcludedImpressions, &c.Referrals, &c.FlaggedReferrals, &c.Conversions, &c.FlaggedConversions, &c.Rejected} {
		*p = d.varint()
	}
	for n := d.count(); n > 0 && d.err == nil; n-- {
		c.Money = append(c.Money, model.MoneyCounts{Currency: d.str(), Earnings: d.varint(), Amount: d.varint(),
			Refunded: d.varint(), Commissions: d.varint()})
	}
	if d.err == nil && len(d.b) > 0 {
		c.BotImpressions = d.varint()
	}
	if d.err == nil && len(d.b) > 0 {
		c.ImpressionsWithReferral = d.varint()
	}
	return c, d.err
}

// countBatch holds the counters a transaction has changed. The writes of
// one group commit mostly count towards the same few counters (the day's
// total, a program's, an ambassador's), so each is read, decoded, encoded
// and put once per commit rather than once per write.
type countBatch struct {
	tx      *bolt.Tx
	pending map[string]*model.Counts
}

// bump applies change to every counter of subj on day. Writes reach it
// through their wtx, whose batch is the group commit's.
func (b *countBatch) bump(subj subject, day uint32, change func(*model.Counts)) error {
	for _, k := range subj.keys(day) {
		c := b.pending[string(k)]
		if c == nil {
			c = &model.Counts{}
			if v := b.tx.Bucket(bucketCounters).Get(k); v != nil {
				var err error
				if *c, err = decodeCounts(v); err != nil {
					return err
				}
			}
			b.pending[string(k)] = c
		}
		change(c)
	}
	return nil
}

// flush writes the changed counters, in key order so each leaf is found
// from its neighbour's.
func (b *countBatch) flush() error {
	keys := make([]string, 0, len(b.pending))
	for k := range b.pending {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bucket := b.tx.Bucket(bucketCounters)
	for _, k := range keys {
		if err := bucket.Put([]byte(k), encodeCounts(b.pending[k])); err != nil {
			return err
		}
	}
	return nil
}

// countImpression counts impression m: every one, the flagged ones
// (bots and repeat scans) and the bots among them.
func countImpression(c *model.Counts, m *model.Impression) {
	c.Impressions++
	if len(m.Flags) > 0 {
		c.ExcludedImpressions++
	}
	if slices.Contains(m.Flags, model.FlagBot) {
		c.BotImpressions++
	}
}

func impressionSubject(m *model.Impression) subject {
	return subject{program: m.ProgramID, ambassador: m.AmbassadorID, placement: m.PlacementID}
}

// countFirstReferral counts impression m as one that led to a referral,
// on the day of the scan, when it is a counted one: bots and repeat scans
// stay out of the rate's numerator as they are out of its denominator.
func countFirstReferral(w *wtx, m *model.Impression) error {
	if len(m.Flags) > 0 {
		return nil
	}
	return w.counts.bump(impressionSubject(m), dayOf(m.CreatedAt.Time), func(c *model.Counts) { c.ImpressionsWithReferral++ })
}

func referralSubject(r *model.Referral) subject {
	return subject{program: r.ProgramID, ambassador: r.AmbassadorID, placement: r.PlacementID}
}

func referralDay(r *model.Referral) uint32 {
	return dayOf(model.IDTime(keyOf(model.PrefixReferral, r.ID)))
}

// countStatusChange counts a referral leaving pending, on its signup day.
func countStatusChange(w *wtx, r *model.Referral) error {
	if r.Status == model.ReferralPending {
		return nil
	}
	return w.counts.bump(referralSubject(r), referralDay(r), func(c *model.Counts) {
		switch r.Status {
		case model.ReferralConverted:
			c.Conversions++
			if len(r.Flags) > 0 {
				c.FlaggedConversions++
			}
		case model.ReferralRejected:
			c.Rejected++
		}
	})
}

// statsScope picks the counter prefix a filter reads.
func statsScope(f model.StatsFilter) []byte {
	switch {
	case f.PlacementID != "":
		return cat([]byte{dimPlacement}, idPrefix(model.PrefixPlacement, f.PlacementID))
	case f.ProgramID != "" && f.AmbassadorID != "":
		return cat([]byte{dimPair}, idPrefix(model.PrefixProgram, f.ProgramID), idPrefix(model.PrefixAmbassador, f.AmbassadorID))
	case f.ProgramID != "":
		return cat([]byte{dimProgram}, idPrefix(model.PrefixProgram, f.ProgramID))
	case f.AmbassadorID != "":
		return cat([]byte{dimAmbassador}, idPrefix(model.PrefixAmbassador, f.AmbassadorID))
	}
	return []byte{dimAll}
}

func finish(c model.Counts, excludeFlagged bool) model.Funnel {
	// Bots are recorded but left out of the funnel's counts; every bot
	// scan is among the excluded ones, so the rate does not change.
	c.Impressions -= c.BotImpressions
	c.ExcludedImpressions -= c.BotImpressions
	if excludeFlagged {
		c.Referrals -= c.FlaggedReferrals
		c.Conversions -= c.FlaggedConversions
	}
	// By currency, however the days were summed: a total decodes sorted,
	// a walk over days adds currencies as they come.
	slices.SortFunc(c.Money, func(a, b model.MoneyCounts) int { return strings.Compare(a.Currency, b.Currency) })
	f := model.Funnel{Counts: c}
	f.Rates()
	return f
}

// readDays are the counter days a filter reads, lo to hi inclusive: the
// total alone without a date range, else the whole days that cover the
// range, so to=now counts today so far and only a to at midnight leaves
// its own day out. none is a range before any record.
func readDays(f model.StatsFilter) (lo, hi uint32, none bool) {
	if f.From.IsZero() && f.To.IsZero() {
		return allDays, allDays, false
	}
	// Unix milliseconds, as a range before 1970 must not wrap round.
	from, to := int64(0), int64(allDays)*86400_000
	if !f.From.IsZero() {
		from = max(0, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		to = f.To.UnixMilli()
	}
	if to <= 0 || from >= to {
		return 0, 0, true
	}
	return uint32(from / 86400_000), uint32(min((to-1)/86400_000, int64(allDays)-1)), false
}

// Funnel implements model.StatsService.
func (s *Store) Funnel(ctx context.Context, f model.StatsFilter) (model.Funnel, error) {
	var total model.Counts
	prefix := statsScope(f)
	lo, hi, none := readDays(f)
	if none {
		return finish(total, f.ExcludeFlagged), nil
	}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCounters).Cursor()
		for k, v := c.Seek(cat(prefix, dayKey(lo))); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+4; k, v = c.Next() {
			if binary.BigEndian.Uint32(k[len(prefix):]) > hi {
				break
			}
			counts, err := decodeCounts(v)
			if err != nil {
				return err
			}
			total.Add(counts)
		}
		return nil
	})
	return finish(total, f.ExcludeFlagged), err
}

// FunnelByDay implements model.StatsService: one walk over the subject's
// days in the range, as Funnel makes, keeping each day apart.
func (s *Store) FunnelByDay(ctx context.Context, f model.StatsFilter) ([]model.DayFunnel, error) {
	var fe model.FieldErrors
	if f.From.IsZero() {
		fe.Add("from", model.FRequired, "is required")
	}
	if f.To.IsZero() {
		fe.Add("to", model.FRequired, "is required")
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	lo, hi, none := readDays(f)
	if none {
		return []model.DayFunnel{}, nil
	}
	if hi-lo >= model.MaxFunnelDays {
		fe.Add("to", model.FInvalidValue, "must be at most %d days after from", model.MaxFunnelDays)
		return nil, fe.Err()
	}
	prefix := statsScope(f)
	out := []model.DayFunnel{}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCounters).Cursor()
		for k, v := c.Seek(cat(prefix, dayKey(lo))); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+4; k, v = c.Next() {
			day := binary.BigEndian.Uint32(k[len(prefix):])
			if day > hi {
				break
			}
			counts, err := decodeCounts(v)
			if err != nil {
				return err
			}
			out = append(out, model.DayFunnel{Day: model.NewTime(time.Unix(int64(day)*86400, 0)), Funnel: finish(counts, f.ExcludeFlagged)})
		}
		return nil
	})
	return out, err
}

// Leaderboard implements model.StatsService: it reads each ambassador's
// total within the program (or overall), or with a date range the days in
// it, so its cost grows with ambassadors, or ambassadors × days in the
// range, never with referrals or with the days the store has run. Names
// are read for the first limit alone, once they are ranked.
func (s *Store) Leaderboard(ctx context.Context, f model.StatsFilter, limit int) (out []model.LeaderboardEntry, err error) {
	prefix := []byte{dimAmbassador}
	if f.ProgramID != "" {
		prefix = cat([]byte{dimPair}, idPrefix(model.PrefixProgram, f.ProgramID))
	}
	lo, hi, none := readDays(f)
	err = s.view(func(tx *bolt.Tx) error {
		if none {
			out = []model.LeaderboardEntry{}
			return nil
		}
		byAmbassador := map[[16]byte]*model.Counts{}
		c := tx.Bucket(bucketCounters).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
			if len(k) != len(prefix)+16+4 {
				k, v = c.Next()
				continue
			}
			amb := [16]byte(k[len(prefix) : len(prefix)+16])
			switch day := binary.BigEndian.Uint32(k[len(prefix)+16:]); {
			case day < lo:
				k, v = c.Seek(cat(prefix, amb[:], dayKey(lo)))
			case day > hi: // on to the next ambassador
				k, v = c.Seek(cat(prefix, amb[:], dayKey(allDays), []byte{0}))
			default:
				counts, err := decodeCounts(v)
				if err != nil {
					return err
				}
				if byAmbassador[amb] == nil {
					byAmbassador[amb] = &model.Counts{}
				}
				byAmbassador[amb].Add(counts)
				k, v = c.Next()
			}
		}
		out = make([]model.LeaderboardEntry, 0, len(byAmbassador))
		for amb, c := range byAmbassador {
			out = append(out, model.LeaderboardEntry{AmbassadorID: model.FormatID(model.PrefixAmbassador, amb), Funnel: finish(*c, f.ExcludeFlagged)})
		}
		sort.Slice(out, func(i, j int) bool {
			a, b := out[i], out[j]
			if a.Conversions != b.Conversions {
				return a.Conversions > b.Conversions
			}
			if a.Referrals != b.Referrals {
				return a.Referrals > b.Referrals
			}
			if a.Impressions != b.Impressions {
				return a.Impressions > b.Impressions
			}
			return a.AmbassadorID < b.AmbassadorID
		})
		if len(out) > limit {
			out = out[:limit]
		}
		ambassadors := tx.Bucket(bucketAmbassadors)
		for i := range out {
			key := keyOf(model.PrefixAmbassador, out[i].AmbassadorID)
			if out[i].AmbassadorName, err = ambassadorName(ambassadors.Get(key[:])); err != nil {
				return fmt.Errorf("leaderboard: ambassador %s: %w", out[i].AmbassadorID, err)
			}
		}
		return nil
	})
	return out, err
}

// recount computes every counter from the records alone.
func recount(tx *bolt.Tx) (map[string]*model.Counts, error) {
	out := map[string]*model.Counts{}
	add := func(subj subject, day uint32, change func(*model.Counts)) {
		for _, k := range subj.keys(day) {
			c := out[string(k)]
			if c == nil {
				c = &model.Counts{}
				out[string(k)] = c
			}
			change(c)
		}
	}
	err := tx.Bucket(bucketImpressions).ForEach(func(k, v []byte) error {
		m, err := decodeImpression(k, v)
		if err != nil {
			return err
		}
		led := len(m.Flags) == 0 && hasReferral(tx, [16]byte(k))
		add(impressionSubject(m), dayOf(model.IDTime([16]byte(k))), func(c *model.Counts) {
			countImpression(c, m)
			if led {
				c.ImpressionsWithReferral++
			}
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	referrals := map[string]*model.Referral{} // for the money of their earnings and bounties
	err = tx.Bucket(bucketReferrals).ForEach(func(k, v []byte) error {
		r, err := decodeReferral(k, v)
		if err != nil {
			return err
		}
		referrals[r.ID] = r
		add(referralSubject(r), referralDay(r), func(c *model.Counts) {
			c.Referrals++
			flagged := len(r.Flags) > 0
			if flagged {
				c.FlaggedReferrals++
			}
			switch r.Status {
			case model.ReferralConverted:
				c.Conversions++
				if flagged {
					c.FlaggedConversions++
				}
			case model.ReferralRejected:
				c.Rejected++
			}
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	earnings := map[string]*model.Earning{}
	err = tx.Bucket(bucketEarnings).ForEach(func(k, v []byte) error {
		e, err := decodeEarning(k, v)
		if err != nil {
			return err
		}
		earnings[e.ID] = e
		add(earningSubject(e, referrals[e.ReferralID]), dayOf(model.IDTime([16]byte(k))), func(c *model.Counts) {
			m := c.MoneyFor(e.Currency)
			m.Earnings++
			m.Amount += e.Amount
			m.Refunded += e.RefundedAmount
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = tx.Bucket(bucketCommissions).ForEach(func(k, v []byte) error {
		cm, err := decodeCommission(k, v)
		if err != nil {
			return err
		}
		subj, day, err := commissionCohort(cm, referrals, earnings)
		if err != nil {
			return err
		}
		add(subj, day, func(c *model.Counts) { c.MoneyFor(cm.Currency).Commissions += cm.Amount })
		return nil
	})
	return out, err
}

func earningSubject(e *model.Earning, r *model.Referral) subject {
	subj := subject{program: e.ProgramID, ambassador: e.AmbassadorID}
	if r != nil {
		subj.placement = r.PlacementID
	}
	return subj
}

// commissionCohort is where a commission counts: with its earning, or, for
// a signup bounty, with its referral.
func commissionCohort(cm *model.Commission, referrals map[string]*model.Referral, earnings map[string]*model.Earning) (subject, uint32, error) {
	r := referrals[cm.ReferralID]
	if cm.EarningID == nil {
		if r == nil {
			return subject{}, 0, fmt.Errorf("commission %s names unknown referral %s", cm.ID, cm.ReferralID)
		}
		return referralSubject(r), referralDay(r), nil
	}
	e := earnings[*cm.EarningID]
	if e == nil {
		return subject{}, 0, fmt.Errorf("commission %s names unknown earning %s", cm.ID, *cm.EarningID)
	}
	return earningSubject(e, r), dayOf(model.IDTime(keyOf(model.PrefixEarning, e.ID))), nil
}

// hasReferral reports whether a referral was made from impression key.
func hasReferral(tx *bolt.Tx, key [16]byte) bool {
	k, _ := tx.Bucket(bucketReferralsByImpression).Cursor().Seek(key[:])
	return k != nil && bytes.HasPrefix(k, key[:])
}

// VerifyCounters recounts every counter from the records and reports
// where the stored counters differ.
func (s *Store) VerifyCounters(ctx context.Context) error {
	return s.view(func(tx *bolt.Tx) error {
		want, err := recount(tx)
		if err != nil {
			return err
		}
		var diffs []string
		seen := map[string]bool{}
		err = tx.Bucket(bucketCounters).ForEach(func(k, v []byte) error {
			seen[string(k)] = true
			w := want[string(k)]
			if w == nil {
				w = &model.Counts{}
			}
			// Compared decoded and encoded again: a value written before
			// bots were counted apart has no bot count, which reads as 0.
			got, err := decodeCounts(v)
			if err != nil || !bytes.Equal(encodeCounts(&got), encodeCounts(w)) {
				diffs = append(diffs, fmt.Sprintf("%q: stored %+v, recounted %+v", k, got, *w))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for k, w := range want {
			if !seen[k] {
				diffs = append(diffs, fmt.Sprintf("%q: missing, recounted %+v", k, *w))
			}
		}
		if len(diffs) > 0 {
			sort.Strings(diffs)
			return fmt.Errorf("%d counters differ from a recount:\n%s", len(diffs), strings.Join(diffs, "\n"))
		}
		return nil
	})
}
