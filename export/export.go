// Package export writes ambassadors, referrals, earnings, commissions and
// payouts as CSV for spreadsheets, page by page through the model's
// services, so an export of any size streams in constant memory.
package export

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/referrald/referrald/model"
)

// Kinds of export.
const (
	Ambassadors = "ambassadors"
	Referrals   = "referrals"
	Earnings    = "earnings"
	Commissions = "commissions"
	Payouts     = "payouts"
)

// Kinds lists every kind of export.
var Kinds = []string{Ambassadors, Referrals, Earnings, Commissions, Payouts}

// Services are what the exports read.
type Services struct {
	Ambassadors model.AmbassadorService
	Referrals   model.ReferralService
	// Earnings serves earnings, commissions and payouts.
	Earnings model.EarningService
}

// Filter holds every export's filters; each kind reads the ones it has.
type Filter struct {
	Ambassador model.AmbassadorFilter
	Referral   model.ReferralFilter
	Earning    model.EarningFilter
	Commission model.CommissionFilter
	Payout     model.PayoutFilter
}

// FilterNames are the filters of ParseFilter, named as the API's query
// parameters.
var FilterNames = []string{"program_id", "ambassador_id", "referral_id", "earning_id", "payout_id", "status", "email", "currency", "from", "to"}

// ParseFilter builds the Filter of the referrald command's flags: get
// returns the value of one of FilterNames, "" when unset. from and to are
// RFC 3339 timestamps; the error for one that is not names its flag.
func ParseFilter(get func(name string) string) (Filter, error) {
	var f Filter
	parseTime := func(name string) (model.Time, error) {
		if get(name) == "" {
			return model.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, get(name))
		if err != nil {
			return model.Time{}, fmt.Errorf("-%s must be an RFC 3339 timestamp", name)
		}
		return model.NewTime(t), nil
	}
	from, err := parseTime("from")
	if err != nil {
		return f, err
	}
	to, err := parseTime("to")
	if err != nil {
		return f, err
	}
	f.Referral = model.ReferralFilter{ProgramID: get("program_id"), AmbassadorID: get("ambassador_id"),
		Status: model.ReferralStatus(get("status")), Email: get("email")}
	f.Earning = model.EarningFilter{ProgramID: get("program_id"), AmbassadorID: get("ambassador_id"), ReferralID: get("referral_id"),
		Status: model.EarningStatus(get("status")), From: from, To: to}
	f.Commission = model.CommissionFilter{AmbassadorID: get("ambassador_id"), EarningID: get("earning_id"), PayoutID: get("payout_id"),
		Status: model.CommissionStatus(get("status"))}
	f.Ambassador = model.AmbassadorFilter{Status: model.AmbassadorStatus(get("status"))}
	f.Payout = model.PayoutFilter{AmbassadorID: get("ambassador_id"), Currency: get("currency"), From: from, To: to}
	return f, nil
}

// Write writes the export of kind to w and returns how many rows it wrote.
func Write(ctx context.Context, svc Services, kind string, f Filter, w io.Writer) (int, error) {
	switch kind {
	case Ambassadors:
		return write(w, []string{"id", "created_at", "status", "first_name", "last_name", "email", "school", "metadata"},
			func(cursor string) (model.Page[*model.Ambassador], error) {
				af := f.Ambassador
				af.ListOptions = model.ListOptions{Limit: model.MaxListLimit, Cursor: cursor}
				return svc.Ambassadors.FindAmbassadors(ctx, af)
			},
			func(a *model.Ambassador) []string {
				return []string{a.ID, ts(a.CreatedAt), string(a.Status), text(a.FirstName), text(a.LastName), text(a.Email),
					text(opt(a.School)), text(meta(a.Metadata))}
			})
	case Referrals:
		return write(w, []string{"id", "created_at", "status", "program_id", "ambassador_id", "placement_id", "impression_id",
			"first_name", "last_name", "email", "profile_picture_url", "flags", "metadata"},
			func(cursor string) (model.Page[*model.Referral], error) {
				rf := f.Referral
				rf.ListOptions = model.ListOptions{Limit: model.MaxListLimit, Cursor: cursor}
				return svc.Referrals.FindReferrals(ctx, rf)
			},
			func(r *model.Referral) []string {
				return []string{r.ID, ts(r.CreatedAt), string(r.Status), r.ProgramID, r.AmbassadorID, opt(r.PlacementID), r.ImpressionID,
					text(r.FirstName), text(r.LastName), text(r.Email), text(opt(r.ProfilePictureURL)), text(strings.Join(r.Flags, ";")),
					text(meta(r.Metadata))}
			})
	case Earnings:
		return write(w, []string{"id", "created_at", "status", "referral_id", "program_id", "ambassador_id", "amount", "currency",
			"refunded_amount", "external_id", "metadata"},
			func(cursor string) (model.Page[*model.Earning], error) {
				ef := f.Earning
				ef.ListOptions = model.ListOptions{Limit: model.MaxListLimit, Cursor: cursor}
				return svc.Earnings.FindEarnings(ctx, ef)
			},
			func(e *model.Earning) []string {
				return []string{e.ID, ts(e.CreatedAt), string(e.Status), e.ReferralID, e.ProgramID, e.AmbassadorID, num(e.Amount), e.Currency,
					num(e.RefundedAmount), text(opt(e.ExternalID)), text(meta(e.Metadata))}
			})
	case Commissions:
		return write(w, []string{"id", "created_at", "status", "kind", "ambassador_id", "program_id", "referral_id", "earning_id",
			"amount", "currency", "approvable_at", "payout_id", "basis"},
			func(cursor string) (model.Page[*model.Commission], error) {
				cf := f.Commission
				cf.ListOptions = model.ListOptions{Limit: model.MaxListLimit, Cursor: cursor}
				return svc.Earnings.FindCommissions(ctx, cf)
			},
			func(c *model.Commission) []string {
				return []string{c.ID, ts(c.CreatedAt), string(c.Status), c.Kind, c.AmbassadorID, c.ProgramID, c.ReferralID, opt(c.EarningID),
					num(c.Amount), c.Currency, ts(c.ApprovableAt), opt(c.PayoutID), text(c.Basis.Note)}
			})
	case Payouts:
		return write(w, []string{"id", "created_at", "ambassador_id", "amount", "currency", "commissions", "external_reference"},
			func(cursor string) (model.Page[*model.Payout], error) {
				pf := f.Payout
				pf.ListOptions = model.ListOptions{Limit: model.MaxListLimit, Cursor: cursor}
				return svc.Earnings.FindPayouts(ctx, pf)
			},
			func(p *model.Payout) []string {
				return []string{p.ID, ts(p.CreatedAt), p.AmbassadorID, num(p.Amount), p.Currency, strconv.Itoa(p.Commissions),
					text(p.ExternalReference)}
			})
	}
	return 0, model.Errorf(model.ENotFound, "no export called %q", kind)
}

// write pages through the records, writing a row each, and flushes after
// every page so a streamed response makes progress.
func write[T any](w io.Writer, header []string, page func(cursor string) (model.Page[T], error), row func(T) []string) (int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return 0, err
	}
	rows, cursor := 0, ""
	for {
		p, err := page(cursor)
		if err != nil {
			return rows, err
		}
		for _, v := range p.Data {
			if err := cw.Write(row(v)); err != nil {
				return rows, err
			}
			rows++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return rows, err
		}
		if f, ok := w.(interface{ Flush() }); ok {
			f.Flush()
		}
		if !p.HasMore {
			return rows, nil
		}
		cursor = *p.NextCursor
	}
}

func ts(t model.Time) string { return t.UTC().Format(model.TimeLayout) }
func num(n int64) string     { return strconv.FormatInt(n, 10) }

func opt(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func meta(m model.Metadata) string {
	if len(m) == 0 {
		return ""
	}
	return string(m)
}

// text neutralises a cell a spreadsheet would run as a formula (CSV
// injection): one that starts with =, +, -, @, a tab or a carriage return
// gets a leading apostrophe. Names and emails come from the public.
func text(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
