package model

import (
	"context"
	"encoding/json"
	"sort"
)

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
	// Flags are signals about the signup (from hook plugins, later from
	// fraud checks); never nil in JSON.
	Flags Flags `json:"flags"`
	// ErasedAt is set once the person's data has been erased: names,
	// email, picture and metadata are gone; the rest keeps counts and
	// commissions adding up.
	ErasedAt  *Time `json:"erased_at"`
	CreatedAt Time  `json:"created_at"`
	UpdatedAt Time  `json:"updated_at"`
}

// Flags are short labels recorded on a record.
type Flags []string

// MarshalJSON renders no flags as [].
func (f Flags) MarshalJSON() ([]byte, error) {
	if len(f) == 0 {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(f))
}

// ReferralCreate is the body of POST /v1/referrals.
type ReferralCreate struct {
	ImpressionID      string   `json:"impression_id"`
	FirstName         string   `json:"first_name"`
	LastName          string   `json:"last_name"`
	Email             string   `json:"email"`
	ProfilePictureURL string   `json:"profile_picture_url,omitempty"`
	Metadata          Metadata `json:"metadata,omitempty"`
	// Flags come from hook plugins, not from the client, so they are not
	// part of the request's idempotency fingerprint.
	Flags Flags `json:"-"`
}

// Validate normalizes c in place (trimmed names, trimmed email with its
// domain lower-cased) and returns its problems. Whether the impression
// exists is the service's to check.
func (c *ReferralCreate) Validate() FieldErrors {
	var fe FieldErrors
	checkID(&fe, "impression_id", PrefixImpression, &c.ImpressionID, true)
	CheckText(&fe, "first_name", &c.FirstName, MaxNameLen, true)
	CheckText(&fe, "last_name", &c.LastName, MaxNameLen, true)
	checkEmail(&fe, "email", &c.Email, true)
	checkURL(&fe, "profile_picture_url", &c.ProfilePictureURL, false)
	checkMetadata(&fe, "metadata", c.Metadata)
	return fe
}

// NewReferral is the referral that a valid signup from impression imp, in
// program prg, makes at now (called id): program, ambassador and placement
// come from the impression; the fraud signals in facts are flagged, and
// a program that rejects fraud creates it rejected.
func NewReferral(in ReferralCreate, imp *Impression, prg *Program, facts SignupFacts, id string, now Time) *Referral {
	fraud := FraudFlags(facts)
	flags := append(append(Flags(nil), in.Flags...), fraud...)
	status := ReferralPending
	if len(fraud) > 0 && prg.FraudPolicy == FraudReject {
		status = ReferralRejected
	}
	r := &Referral{ID: id, ImpressionID: imp.ID, FirstName: in.FirstName, LastName: in.LastName, Email: in.Email,
		Metadata: in.Metadata, Status: status, ProgramID: imp.ProgramID, AmbassadorID: imp.AmbassadorID,
		PlacementID: imp.PlacementID, Flags: flags, CreatedAt: now, UpdatedAt: now}
	if in.ProfilePictureURL != "" {
		r.ProfilePictureURL = &in.ProfilePictureURL
	}
	return r
}

// Converted is r as an earning converts it: a pending referral becomes
// converted (ok); any other stays as it is.
func (r *Referral) Converted() (*Referral, bool) {
	if r.Status != ReferralPending {
		return r, false
	}
	c := *r
	c.Status = ReferralConverted
	return &c, true
}

// Erased is r with the person's data gone, erased at now: names, email,
// picture and metadata; what keeps counts and commissions adding up
// stays.
func (r *Referral) Erased(now Time) *Referral {
	e := *r
	e.FirstName, e.LastName, e.Email, e.ProfilePictureURL, e.Metadata = "", "", "", nil, nil
	e.ErasedAt, e.UpdatedAt = &now, now
	return &e
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
		if r.ErasedAt != nil {
			return Errorf(EConflict, "referral %s was erased; its metadata cannot be set again", r.ID)
		}
		r.Metadata = *u.Metadata
	}
	return nil
}

// ReferralFilter narrows a list of referrals; set filters combine.
type ReferralFilter struct {
	ListOptions
	ProgramID    string
	AmbassadorID string
	// PlacementID picks the referrals that came from one poster's scans.
	PlacementID string
	Status      ReferralStatus
	// Email matches case-insensitively.
	Email string
	// Flagged picks the referrals with at least one flag.
	Flagged bool
	// From and To bound created_at: From ≤ created_at < To; zero is open.
	From, To Time
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
	// EraseReferral erases the person's data from the referral, its
	// indexes, its idempotency snapshot and its events, leaving an
	// anonymised tombstone. Erasing twice is harmless. Errors: not_found.
	EraseReferral(ctx context.Context, id string) (*Referral, error)
	// FindReplayedReferral returns the referral an earlier request with
	// idem created, or nil if there is none (yet). Errors:
	// idempotency_key_reused.
	FindReplayedReferral(ctx context.Context, idem Idempotency) (*Referral, error)
}

// ReferralVerdict is what the hook plugins added to a signup they let
// through.
type ReferralVerdict struct {
	Flags    []string
	Metadata map[string]string
}

// Apply records v on c: flags are added once each; metadata keys the
// client did not send are added while the metadata stays within its
// limits and I-JSON, in key order so the outcome does not depend on map
// order.
func (v ReferralVerdict) Apply(c *ReferralCreate) {
	for _, f := range v.Flags {
		if f != "" && len(f) <= 64 && !contains(c.Flags, f) {
			c.Flags = append(c.Flags, f)
		}
	}
	if len(v.Metadata) == 0 {
		return
	}
	obj := map[string]json.RawMessage{}
	if len(c.Metadata) > 0 && json.Unmarshal(c.Metadata, &obj) != nil {
		return
	}
	keys := make([]string, 0, len(v.Metadata))
	for k := range v.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := append([]byte(nil), c.Metadata...)
	for _, k := range keys {
		if _, taken := obj[k]; taken || len(obj) >= MaxMetadataKeys || !ijsonString(k) || !ijsonString(v.Metadata[k]) {
			continue
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v.Metadata[k])
		var next []byte
		if len(out) == 0 || string(out) == "{}" {
			next = append(append(append(append([]byte("{"), kb...), ':'), vb...), '}')
		} else {
			next = append(append(append(append(append(out[:len(out)-1:len(out)-1], ','), kb...), ':'), vb...), '}')
		}
		if len(next) > MaxMetadataBytes {
			continue
		}
		out, obj[k] = next, vb
	}
	c.Metadata = out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ERejectedByHook is the problem code of a signup a hook plugin refused.
const ERejectedByHook = "rejected_by_hook"

// ReferralChecker asks hook plugins about a signup before it is written.
type ReferralChecker interface {
	// CheckReferral returns what the plugins add to the signup. Errors:
	// rejected_by_hook or validation_failed (a plugin refused it, with its
	// reason), unavailable (a fail_closed plugin could not answer).
	CheckReferral(ctx context.Context, in ReferralCreate, imp *Impression) (ReferralVerdict, error)
}
