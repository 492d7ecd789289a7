package model

import "context"

// AmbassadorStatus says whether an ambassador is taking part.
type AmbassadorStatus string

// Ambassador statuses.
const (
	AmbassadorActive AmbassadorStatus = "active"
	AmbassadorPaused AmbassadorStatus = "paused"
)

// Valid reports whether s is a known status.
func (s AmbassadorStatus) Valid() bool { return s == AmbassadorActive || s == AmbassadorPaused }

// Ambassador is a student who puts up posters for programs.
type Ambassador struct {
	ID        string           `json:"id"`
	FirstName string           `json:"first_name"`
	LastName  string           `json:"last_name"`
	Email     string           `json:"email"`
	School    *string          `json:"school"`
	Status    AmbassadorStatus `json:"status"`
	Metadata  Metadata         `json:"metadata"`
	CreatedAt Time             `json:"created_at"`
	UpdatedAt Time             `json:"updated_at"`
}

// AmbassadorCreate is the body of POST /v1/ambassadors.
type AmbassadorCreate struct {
	FirstName string           `json:"first_name"`
	LastName  string           `json:"last_name"`
	Email     string           `json:"email"`
	School    string           `json:"school,omitempty"`
	Status    AmbassadorStatus `json:"status,omitempty"`
	Metadata  Metadata         `json:"metadata,omitempty"`
}

// Validate normalizes c in place (status defaults to active) and returns its
// problems.
func (c *AmbassadorCreate) Validate() FieldErrors {
	var fe FieldErrors
	CheckText(&fe, "first_name", &c.FirstName, MaxNameLen, true)
	CheckText(&fe, "last_name", &c.LastName, MaxNameLen, true)
	checkEmail(&fe, "email", &c.Email, true)
	CheckText(&fe, "school", &c.School, MaxLabelLen, false)
	if c.Status == "" {
		c.Status = AmbassadorActive
	} else if !c.Status.Valid() {
		fe.Add("status", FInvalidValue, "must be active or paused")
	}
	checkMetadata(&fe, "metadata", c.Metadata)
	return fe
}

// AmbassadorUpdate is the body of PATCH /v1/ambassadors/{id}; nil fields
// stay as they are.
type AmbassadorUpdate struct {
	FirstName *string
	LastName  *string
	Email     *string
	// School replaces the school; "" clears it.
	School   *string
	Status   *AmbassadorStatus
	Metadata *Metadata
}

// Validate normalizes u in place and returns its problems.
func (u *AmbassadorUpdate) Validate() FieldErrors {
	var fe FieldErrors
	if u.FirstName != nil {
		CheckText(&fe, "first_name", u.FirstName, MaxNameLen, true)
	}
	if u.LastName != nil {
		CheckText(&fe, "last_name", u.LastName, MaxNameLen, true)
	}
	if u.Email != nil {
		checkEmail(&fe, "email", u.Email, true)
	}
	if u.School != nil {
		CheckText(&fe, "school", u.School, MaxLabelLen, false)
	}
	if u.Status != nil && !u.Status.Valid() {
		fe.Add("status", FInvalidValue, "must be active or paused")
	}
	if u.Metadata != nil {
		checkMetadata(&fe, "metadata", *u.Metadata)
	}
	return fe
}

// Apply changes a as u says.
func (u *AmbassadorUpdate) Apply(a *Ambassador) {
	if u.FirstName != nil {
		a.FirstName = *u.FirstName
	}
	if u.LastName != nil {
		a.LastName = *u.LastName
	}
	if u.Email != nil {
		a.Email = *u.Email
	}
	if u.School != nil {
		a.School = nil
		if *u.School != "" {
			a.School = ptr(*u.School)
		}
	}
	if u.Status != nil {
		a.Status = *u.Status
	}
	if u.Metadata != nil {
		a.Metadata = *u.Metadata
	}
}

// AmbassadorFilter narrows a list of ambassadors.
type AmbassadorFilter struct {
	ListOptions
	Status AmbassadorStatus
}

// AmbassadorService manages ambassadors.
type AmbassadorService interface {
	// CreateAmbassador errors: validation_failed, conflict (email taken),
	// idempotency_key_reused, unavailable.
	CreateAmbassador(ctx context.Context, in AmbassadorCreate, idem Idempotency) (*Ambassador, bool, error)
	// FindAmbassadorByID errors: not_found.
	FindAmbassadorByID(ctx context.Context, id string) (*Ambassador, error)
	FindAmbassadors(ctx context.Context, f AmbassadorFilter) (Page[*Ambassador], error)
	// UpdateAmbassador errors: not_found, conflict (email taken), unavailable.
	UpdateAmbassador(ctx context.Context, id string, u AmbassadorUpdate) (*Ambassador, error)
}

// NewAmbassador is the ambassador that a valid create makes.
func NewAmbassador(in AmbassadorCreate, id string, now Time) *Ambassador {
	a := &Ambassador{ID: id, FirstName: in.FirstName, LastName: in.LastName, Email: in.Email, Status: in.Status,
		Metadata: in.Metadata, CreatedAt: now, UpdatedAt: now}
	if in.School != "" {
		a.School = &in.School
	}
	return a
}
