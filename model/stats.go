package model

import "context"

// Counts are what the per-day counters hold for one dimension (all, a
// program, an ambassador, both, or a placement). They are cohort counts:
// a referral counts on the day it signed up, even when it converts or is
// rejected later; an earning, its refunds and its commissions count on the
// day of the earning. So the signup→purchase rate of a range reads "of
// those who signed up then, how many bought".
type Counts struct {
	Impressions int64 `json:"impressions"`
	// ExcludedImpressions are bot or repeat scans, left out of rates.
	ExcludedImpressions int64 `json:"excluded_impressions"`
	// ImpressionsWithReferral are the counted scans (not excluded) that
	// led to at least one referral, counted on the day of the scan.
	ImpressionsWithReferral int64 `json:"impressions_with_referral"`
	// BotImpressions are the scans by bots among them. In a funnel, bots
	// are left out of Impressions and ExcludedImpressions and counted
	// only here.
	BotImpressions   int64 `json:"bot_impressions"`
	Referrals        int64 `json:"referrals"`
	FlaggedReferrals int64 `json:"flagged_referrals"`
	Conversions      int64 `json:"conversions"`
	// FlaggedConversions are the conversions among flagged referrals.
	FlaggedConversions int64 `json:"flagged_conversions"`
	Rejected           int64 `json:"rejected"`
	// Money is per currency, in the order currencies first appeared.
	Money []MoneyCounts `json:"earnings"`
}

// MoneyCounts are the money figures of one currency.
type MoneyCounts struct {
	Currency string `json:"currency"`
	Earnings int64  `json:"count"`
	Amount   int64  `json:"amount"`
	Refunded int64  `json:"refunded"`
	// Commissions is the net of commissions and clawbacks.
	Commissions int64 `json:"commissions"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Impressions += o.Impressions
	c.ExcludedImpressions += o.ExcludedImpressions
	c.ImpressionsWithReferral += o.ImpressionsWithReferral
	c.BotImpressions += o.BotImpressions
	c.Referrals += o.Referrals
	c.FlaggedReferrals += o.FlaggedReferrals
	c.Conversions += o.Conversions
	c.FlaggedConversions += o.FlaggedConversions
	c.Rejected += o.Rejected
	for _, m := range o.Money {
		mc := c.MoneyFor(m.Currency)
		mc.Earnings += m.Earnings
		mc.Amount += m.Amount
		mc.Refunded += m.Refunded
		mc.Commissions += m.Commissions
	}
}

// MoneyFor returns the figures of currency, adding them if new.
func (c *Counts) MoneyFor(currency string) *MoneyCounts {
	for i := range c.Money {
		if c.Money[i].Currency == currency {
			return &c.Money[i]
		}
	}
	c.Money = append(c.Money, MoneyCounts{Currency: currency})
	return &c.Money[len(c.Money)-1]
}

// StatsFilter picks the counters a funnel or leaderboard reads.
type StatsFilter struct {
	ProgramID, AmbassadorID, PlacementID string
	// From and To bound the days read: the UTC days that cover them, From's
	// day up to and including To's, unless To is exactly midnight, which
	// leaves its day out. Zero is open.
	From, To Time
	// ExcludeFlagged leaves flagged referrals (and conversions among
	// them) out of the counts.
	ExcludeFlagged bool
}

// Funnel is the conversion funnel of a filter.
type Funnel struct {
	Counts
	// ScanToSignupRate is the share of counted impressions that led to a
	// referral, so a second signup from one scan cannot lift it past 1;
	// null when there were no counted impressions.
	ScanToSignupRate *float64 `json:"scan_to_signup_rate"`
	// SignupToPurchaseRate is the share of referrals that converted; null
	// when there were none.
	SignupToPurchaseRate *float64 `json:"signup_to_purchase_rate"`
}

// Rates fills in the funnel's rates from its counts.
func (f *Funnel) Rates() {
	f.ScanToSignupRate = ratio(f.ImpressionsWithReferral, f.Impressions-f.ExcludedImpressions)
	f.SignupToPurchaseRate = ratio(f.Conversions, f.Referrals)
	if f.Money == nil {
		f.Money = []MoneyCounts{}
	}
}

func ratio(a, b int64) *float64 {
	if b <= 0 {
		return nil
	}
	r := float64(a) / float64(b)
	return &r
}

// LeaderboardEntry is one ambassador's funnel.
type LeaderboardEntry struct {
	AmbassadorID string `json:"ambassador_id"`
	// AmbassadorName is the ambassador's first and last name as the
	// ambassador record holds them now, joined by a space.
	AmbassadorName string `json:"ambassador_name"`
	Funnel
}

// DayFunnel is the funnel of one UTC day.
type DayFunnel struct {
	// Day is the day's midnight, UTC.
	Day Time `json:"day"`
	Funnel
}

// MaxFunnelDays bounds the range FunnelByDay reads: a little over a year.
const MaxFunnelDays = 400

// StatsService reads the counters.
type StatsService interface {
	Funnel(ctx context.Context, f StatsFilter) (Funnel, error)
	// FunnelByDay is Funnel for each day of f's range that has any count,
	// in day order; the days between have none. f needs both From and To,
	// at most MaxFunnelDays days apart. Errors: validation_failed.
	FunnelByDay(ctx context.Context, f StatsFilter) ([]DayFunnel, error)
	// Leaderboard ranks ambassadors by conversions, then referrals, then
	// impressions, and returns the first limit, with their names.
	Leaderboard(ctx context.Context, f StatsFilter, limit int) ([]LeaderboardEntry, error)
}
