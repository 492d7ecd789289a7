package model

import (
	"context"
	"strconv"
	"strings"
)

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
	// Search narrows to the ambassador whose email it is, ignoring case,
	// or else to those whose name, email or school holds it, ignoring
	// case. An email is found through its index; anything else is looked
	// for among a bounded number of ambassadors per page, newest first,
	// so a page of a search can hold fewer than Limit, even none, with
	// HasMore set: the next page looks further.
	Search string
	// School narrows to ambassadors whose school is School, ignoring case
	// and surrounding spaces; looked for like a Search by name.
	School string
}

// MaxImportAmbassadors bounds one ImportAmbassadors: a school's intake
// of ambassadors, with room to spare, in one transaction that holds the
// store's one writer for a moment only.
const MaxImportAmbassadors = 5000

// ImportField names the field of the row'th ambassador (from 0) of an
// import in its field errors: "rows.3.email".
func ImportField(row int, field string) string { return "rows." + strconv.Itoa(row) + "." + field }

// ParseImportField splits a field error's field made by ImportField; ok
// is false for a field of the import as a whole ("rows").
func ParseImportField(f string) (row int, field string, ok bool) {
	rest, found := strings.CutPrefix(f, "rows.")
	if !found {
		return 0, "", false
	}
	n, field, found := strings.Cut(rest, ".")
	row, err := strconv.Atoi(n)
	if !found || err != nil || row < 0 {
		return 0, "", false
	}
	return row, field, true
}

// ValidateImport normalizes each of ins in place, as Validate does, and
// returns the problems of all of them, each under ImportField(row,
// field): one pass over every row, so a file's problems are reported
// together. An email that an earlier row already has is a problem of the
// later row, since one person is one ambassador.
func ValidateImport(ins []AmbassadorCreate) FieldErrors {
	var fe FieldErrors
	switch {
	case len(ins) == 0:
		fe.Add("rows", FRequired, "must hold at least one ambassador")
		return fe
	case len(ins) > MaxImportAmbassadors:
		fe.Add("rows", FInvalidValue, "must hold at most %d ambassadors", MaxImportAmbassadors)
		return fe
	}
	first := make(map[string]int, len(ins))
	for i := range ins {
		row := ins[i].Validate()
		for _, e := range row {
			fe = append(fe, FieldError{Field: ImportField(i, e.Field), Code: e.Code, Message: e.Message})
		}
		if row.Has("email") {
			continue
		}
		key := EmailKey(ins[i].Email)
		if _, dup := first[key]; dup {
			fe.Add(ImportField(i, "email"), FInvalidValue, "is on an earlier row of this import too")
			continue
		}
		first[key] = i
	}
	return fe
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
	// ImportAmbassadors creates all of ins or none: it validates every
	// one (ValidateImport) and checks that no ambassador has its email
	// yet, and only when all pass creates them, in order, in one
	// transaction. A replay of idem returns the same ambassadors.
	// Errors: validation_failed, with every problem of every row under
	// ImportField(row, field) (an email taken is one), or under "rows"
	// for the import as a whole; idempotency_key_reused, unavailable.
	ImportAmbassadors(ctx context.Context, ins []AmbassadorCreate, idem Idempotency) ([]*Ambassador, bool, error)
	// CheckAmbassadorImport reports what ImportAmbassadors would refuse
	// of ins, with the same errors, and writes nothing: for a caller that
	// will not import (part of a file could not be read) yet reports
	// every problem at once.
	CheckAmbassadorImport(ctx context.Context, ins []AmbassadorCreate) error
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
