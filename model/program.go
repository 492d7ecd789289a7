package model

import (
	"context"
	"encoding/json"
)

// ProgramStatus says whether a program is running.
type ProgramStatus string

// Program statuses.
const (
	ProgramActive ProgramStatus = "active"
	// ProgramArchived is a program that has ended: lists can leave it out
	// and it takes no new placements, while its posters, referrals and
	// money carry on as before.
	ProgramArchived ProgramStatus = "archived"
)

// Valid reports whether s is a known status.
func (s ProgramStatus) Valid() bool { return s == ProgramActive || s == ProgramArchived }

// Program is a campaign that recruits ambassadors, e.g. "Spring 2027 campus
// launch".
type Program struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// LandingURL is where a scan sends the visitor; empty sends them to
	// the hosted signup page, /join/<code>.
	LandingURL string          `json:"landing_url"`
	Commission *CommissionRule `json:"commission"`
	// HoldDays is how long a new commission stays pending before it is
	// approved on its own (refund window).
	HoldDays int `json:"hold_days"`
	// FraudPolicy says what fraud signals do: FraudFlag (record them) or
	// FraudReject (record them and reject the referral).
	FraudPolicy string        `json:"fraud_policy"`
	Status      ProgramStatus `json:"status"`
	Metadata    Metadata      `json:"metadata"`
	CreatedAt   Time          `json:"created_at"`
	UpdatedAt   Time          `json:"updated_at"`
}

// HostedSignup reports whether p's scans land on the hosted signup page,
// having no landing page of its own.
func (p *Program) HostedSignup() bool { return p.LandingURL == "" }

// Commission rule types.
const (
	CommissionFlat    = "flat"
	CommissionPercent = "percent"
)

// MaxBasisPoints is 100 %.
const MaxBasisPoints = 10000

// CommissionRule is how a program pays its ambassadors per earning: a flat
// amount in a currency's minor unit, or a share in basis points.
type CommissionRule struct {
	Type        string
	Amount      int64
	Currency    string
	BasisPoints int64
	// Caps bound a percent commission on one earning, by the earning's
	// currency, each in that currency's minor unit: 1000 is ten dollars
	// but ten yen. Nil: no cap. When set, an earning in a currency it does
	// not name is refused. Never empty once valid.
	Caps map[string]int64
	// LegacyCap is a cap without a currency, which programs stored before
	// caps were per currency. Nobody can tell which currency it meant, so
	// it is shown but never applied: earnings on the rule are refused
	// until the rule is set again with Caps. A new rule cannot have one.
	LegacyCap int64
}

// MarshalJSON renders only the fields of the rule's type.
func (c CommissionRule) MarshalJSON() ([]byte, error) {
	if c.Type == CommissionPercent {
		return json.Marshal(struct {
			Type        string           `json:"type"`
			BasisPoints int64            `json:"basis_points"`
			Caps        map[string]int64 `json:"caps,omitempty"`
			Cap         *int64           `json:"cap,omitempty"`
		}{c.Type, c.BasisPoints, c.Caps, nonZero(c.LegacyCap)})
	}
	return json.Marshal(struct {
		Type     string `json:"type"`
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}{c.Type, c.Amount, c.Currency})
}

func (c *CommissionRule) check(fe *FieldErrors, field string) {
	switch c.Type {
	case CommissionFlat:
		if c.Amount < 0 {
			fe.Add(field+".amount", FInvalidValue, "must not be negative")
		}
		checkCurrency(fe, field+".currency", c.Currency)
		if c.BasisPoints != 0 || c.LegacyCap != 0 {
			fe.Add(field+".basis_points", FInvalidValue, "basis_points and cap apply only to percent commissions")
		}
		if c.Caps != nil {
			fe.Add(field+".caps", FInvalidValue, "applies only to percent commissions")
		}
		if c.Amount > MaxAmount {
			fe.Add(field+".amount", FInvalidValue, "must be at most %d", int64(MaxAmount))
		}
	case CommissionPercent:
		if c.BasisPoints < 0 || c.BasisPoints > MaxBasisPoints {
			fe.Add(field+".basis_points", FInvalidValue, "must be between 0 and %d", MaxBasisPoints)
		}
		if c.Amount != 0 || c.Currency != "" {
			fe.Add(field+".amount", FInvalidValue, "applies only to flat commissions")
		}
		if c.LegacyCap != 0 {
			fe.Add(field+".cap", FInvalidValue, `has no currency; caps are per currency: use caps, e.g. {"USD": %d}`, c.LegacyCap)
		}
		checkCaps(fe, field+".caps", c.Caps)
	case "":
		fe.Add(field+".type", FRequired, "is required")
	default:
		fe.Add(field+".type", FInvalidValue, "must be flat or percent")
	}
}

// checkCaps checks a percent rule's caps: nil, or ISO 4217 codes, each
// with a cap from 1 to MaxAmount. An empty map is refused: it would refuse
// every earning, which is surely not what was meant by leaving caps out.
func checkCaps(fe *FieldErrors, field string, caps map[string]int64) {
	if caps != nil && len(caps) == 0 {
		fe.Add(field, FInvalidValue, "must name at least one currency; leave caps out for no cap")
	}
	for cur, v := range caps {
		switch {
		case !ValidCurrency(cur):
			fe.Add(field+"."+FieldName(cur), FInvalidValue, "must be keyed by an ISO 4217 code in upper case, e.g. USD")
		case v < 1 || v > MaxAmount:
			fe.Add(field+"."+FieldName(cur), FInvalidValue, "must be from 1 to %d, in the currency's minor unit", int64(MaxAmount))
		}
	}
}

func nonZero(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

// ProgramCreate is the body of POST /v1/programs.
type ProgramCreate struct {
	Name       string          `json:"name"`
	LandingURL string          `json:"landing_url"`
	Commission *CommissionRule `json:"commission,omitempty"`
	// HoldDays is nil when not given: DefaultHoldDays then.
	HoldDays    *int          `json:"hold_days,omitempty"`
	FraudPolicy string        `json:"fraud_policy,omitempty"`
	Status      ProgramStatus `json:"status,omitempty"`
	Metadata    Metadata      `json:"metadata,omitempty"`
}

func checkFraudPolicy(fe *FieldErrors, p *string) {
	switch *p {
	case "":
		*p = FraudFlag
	case FraudFlag, FraudReject:
	default:
		fe.Add("fraud_policy", FInvalidValue, "must be flag or reject")
	}
}

// MaxHoldDays bounds a program's hold.
const MaxHoldDays = 365

// DefaultHoldDays is the hold of a program created without one: about a
// refund window, so that a commission cannot be paid out before the
// purchase behind it can still be refunded.
const DefaultHoldDays = 30

// Validate normalizes c in place and returns its problems.
func (c *ProgramCreate) Validate() FieldErrors {
	var fe FieldErrors
	CheckText(&fe, "name", &c.Name, MaxLabelLen, true)
	checkURL(&fe, "landing_url", &c.LandingURL, false)
	if c.Commission != nil {
		c.Commission.check(&fe, "commission")
	}
	if c.HoldDays != nil && (*c.HoldDays < 0 || *c.HoldDays > MaxHoldDays) {
		fe.Add("hold_days", FInvalidValue, "must be from 0 to %d", MaxHoldDays)
	}
	checkFraudPolicy(&fe, &c.FraudPolicy)
	if c.Status == "" {
		c.Status = ProgramActive
	} else if !c.Status.Valid() {
		fe.Add("status", FInvalidValue, "must be active or archived")
	}
	checkMetadata(&fe, "metadata", c.Metadata)
	return fe
}

// NewProgram is the program that a valid create makes, with the defaults
// of what it left out.
func NewProgram(in ProgramCreate, id string, now Time) *Program {
	hold := DefaultHoldDays
	if in.HoldDays != nil {
		hold = *in.HoldDays
	}
	policy := in.FraudPolicy
	if policy == "" {
		policy = FraudFlag
	}
	status := in.Status
	if status == "" {
		status = ProgramActive
	}
	return &Program{ID: id, Name: in.Name, LandingURL: in.LandingURL, Commission: in.Commission, HoldDays: hold,
		FraudPolicy: policy, Status: status, Metadata: in.Metadata, CreatedAt: now, UpdatedAt: now}
}

// ProgramUpdate is the body of PATCH /v1/programs/{id}; nil fields stay as
// they are.
type ProgramUpdate struct {
	Name *string
	// LandingURL replaces the landing page; "" clears it, for the hosted
	// signup page.
	LandingURL *string
	// Commission replaces the rule when CommissionSet; nil clears it.
	Commission    *CommissionRule
	CommissionSet bool
	HoldDays      *int
	FraudPolicy   *string
	Status        *ProgramStatus
	Metadata      *Metadata
}

// Validate normalizes u in place and returns its problems.
func (u *ProgramUpdate) Validate() FieldErrors {
	var fe FieldErrors
	if u.Name != nil {
		CheckText(&fe, "name", u.Name, MaxLabelLen, true)
	}
	if u.LandingURL != nil {
		checkURL(&fe, "landing_url", u.LandingURL, false)
	}
	if u.Commission != nil {
		u.Commission.check(&fe, "commission")
	}
	if u.HoldDays != nil && (*u.HoldDays < 0 || *u.HoldDays > MaxHoldDays) {
		fe.Add("hold_days", FInvalidValue, "must be from 0 to %d", MaxHoldDays)
	}
	if u.FraudPolicy != nil {
		checkFraudPolicy(&fe, u.FraudPolicy)
	}
	if u.Status != nil && !u.Status.Valid() {
		fe.Add("status", FInvalidValue, "must be active or archived")
	}
	if u.Metadata != nil {
		checkMetadata(&fe, "metadata", *u.Metadata)
	}
	return fe
}

// Apply changes p as u says.
func (u *ProgramUpdate) Apply(p *Program) {
	if u.Name != nil {
		p.Name = *u.Name
	}
	if u.LandingURL != nil {
		p.LandingURL = *u.LandingURL
	}
	if u.CommissionSet {
		p.Commission = u.Commission
	}
	if u.HoldDays != nil {
		p.HoldDays = *u.HoldDays
	}
	if u.FraudPolicy != nil {
		p.FraudPolicy = *u.FraudPolicy
	}
	if u.Status != nil {
		p.Status = *u.Status
	}
	if u.Metadata != nil {
		p.Metadata = *u.Metadata
	}
}

// ProgramFilter narrows a list of programs.
type ProgramFilter struct {
	ListOptions
	Status ProgramStatus
}

// ProgramService manages programs.
type ProgramService interface {
	// CreateProgram returns the new program, or the original one and true
	// when idem replays an earlier request. Errors: validation_failed,
	// idempotency_key_reused, unavailable.
	CreateProgram(ctx context.Context, in ProgramCreate, idem Idempotency) (*Program, bool, error)
	// FindProgramByID errors: not_found.
	FindProgramByID(ctx context.Context, id string) (*Program, error)
	FindPrograms(ctx context.Context, f ProgramFilter) (Page[*Program], error)
	// UpdateProgram errors: not_found, unavailable.
	UpdateProgram(ctx context.Context, id string, u ProgramUpdate) (*Program, error)
}
