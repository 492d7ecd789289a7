package model

import "context"

// ReferralStatus is where a referral stands in its lifecycle.
type ReferralStatus string

// Referral statuses: pending → converted or rejected; the last two are final.
const (
	ReferralPending   ReferralStatus = "pending"
	ReferralConverted ReferralStatus = "converted"
	ReferralRejected  ReferralStatus = "rejected"
)

// Valid reports whether s is a known status.
func (s ReferralStatus) Valid() bool {
	return s == ReferralPending || s == ReferralConverted || s == ReferralRejected
}

// CanBecome reports whether a referral in status s may move to next. Staying
// put is allowed, so a repeated PATCH is harmless.
func (s ReferralStatus) CanBecome(next ReferralStatus) bool {
	return s == next || s == ReferralPending && next != ReferralPending
}

// Referral is a person who signed up after a scan.
type Referral struct {
	ID                string         `json:"id"`
	ImpressionID      string         `json:"impression_id"`
	FirstName         string         `json:"first_name"`
	LastName          string         `json:"last_name"`
	Email             string         `json:"email"`
	ProfilePictureURL *string        `json:"profile_picture_url"`
	Metadata          Metadata       `json:"metadata"`
	Status            ReferralStatus `json:"status"`
	ProgramID         string         `json:"program_id"`
	AmbassadorID      string         `json:"ambassador_id"`
	PlacementID       *string        `json:"placement_id"`
	CreatedAt         Time           `json:"created_at"`
	UpdatedAt         Time           `json:"updated_at"`
}

// ReferralCreate is the body of POST /v1/referrals.
type ReferralCreate struct {
	ImpressionID      string   `json:"impression_id"`
	FirstName         string   `json:"first_name"`
	LastName          string   `json:"last_name"`
	Email             string   `json:"email"`
	ProfilePictureURL string   `json:"profile_picture_url,omitempty"`
	Metadata          Metadata `json:"metadata,omitempty"`
}

// Validate normalizes c in place (trimmed names, trimmed email with its
// domain lower-cased) and returns its problems. Whether the impression
// exists is the service's to check.
func (c *ReferralCreate) Validate() FieldErrors {
	var fe FieldErrors
	checkID(&fe, "impression_id", PrefixImpression, c.ImpressionID, true)
	checkText(&fe, "first_name", &c.FirstName, MaxNameLen, true)
	checkText(&fe, "last_name", &c.LastName, MaxNameLen, true)
	checkEmail(&fe, "email", &c.Email, true)
	checkURL(&fe, "profile_picture_url", &c.ProfilePictureURL, false)
	checkMetadata(&fe, "metadata", c.Metadata)
	return fe
}

// ReferralUpdate is the body of PATCH /v1/referrals/{id}.
type ReferralUpdate struct {
	Status   *ReferralStatus
	Metadata *Metadata
}

// Validate returns u's problems.
func (u *ReferralUpdate) Validate() FieldErrors {
	var fe FieldErrors
	if u.Status != nil && !u.Status.Valid() {
		fe.Add("status", FInvalidValue, "must be pending, converted or rejected")
	}
	if u.Metadata != nil {
		checkMetadata(&fe, "metadata", *u.Metadata)
	}
	return fe
}

// Apply changes r as u says, or returns a conflict error for an illegal
// status change.
func (u *ReferralUpdate) Apply(r *Referral) error {
	if u.Status != nil {
		if !r.Status.CanBecome(*u.Status) {
			return Errorf(EConflict, "referral %s is %s and cannot become %s", r.ID, r.Status, *u.Status)
		}
		r.Status = *u.Status
	}
	if u.Metadata != nil {
		r.Metadata = *u.Metadata
	}
	return nil
}

// ReferralFilter narrows a list of referrals; set filters combine.
type ReferralFilter struct {
	ListOptions
	ProgramID    string
	AmbassadorID string
	Status       ReferralStatus
	// Email matches case-insensitively.
	Email string
}

// ReferralService records referrals.
type ReferralService interface {
	// CreateReferral returns the new referral, or the original one and true
	// when idem replays an earlier request. Errors: validation_failed
	// (not_found for an unknown impression), idempotency_key_reused,
	// unavailable.
	CreateReferral(ctx context.Context, in ReferralCreate, idem Idempotency) (*Referral, bool, error)
	// FindReferralByID errors: not_found.
	FindReferralByID(ctx context.Context, id string) (*Referral, error)
	FindReferrals(ctx context.Context, f ReferralFilter) (Page[*Referral], error)
	// UpdateReferral errors: not_found, conflict (illegal status change),
	// unavailable.
	UpdateReferral(ctx context.Context, id string, u ReferralUpdate) (*Referral, error)
}

// Event types written to the outbox for hooks.
const (
	EventReferralCreated       = "referral.created"
	EventReferralStatusChanged = "referral.status_changed"
	EventImpressionCreated     = "impression.created"
)
