package model

import "context"

// Impression is one scan of a QR code (or one visit recorded through the
// API), the start of the funnel.
type Impression struct {
	ID           string  `json:"id"`
	ProgramID    string  `json:"program_id"`
	AmbassadorID string  `json:"ambassador_id"`
	PlacementID  *string `json:"placement_id"`
	UserAgent    *string `json:"user_agent"`
	Referrer     *string `json:"referrer"`
	// Flags mark scans left out of the funnel (bot, repeat_scan).
	Flags     Flags    `json:"flags"`
	Metadata  Metadata `json:"metadata"`
	CreatedAt Time     `json:"created_at"`
}

// ImpressionCreate is the body of POST /v1/impressions: either PlacementID,
// or ProgramID and AmbassadorID.
type ImpressionCreate struct {
	PlacementID  string   `json:"placement_id,omitempty"`
	ProgramID    string   `json:"program_id,omitempty"`
	AmbassadorID string   `json:"ambassador_id,omitempty"`
	UserAgent    string   `json:"user_agent,omitempty"`
	Referrer     string   `json:"referrer,omitempty"`
	Metadata     Metadata `json:"metadata,omitempty"`
}

// Validate normalizes c in place and returns its problems. Whether the
// referenced records exist is the service's to check.
func (c *ImpressionCreate) Validate() FieldErrors {
	var fe FieldErrors
	if c.PlacementID != "" {
		checkID(&fe, "placement_id", PrefixPlacement, &c.PlacementID, true)
		checkID(&fe, "program_id", PrefixProgram, &c.ProgramID, false)
		checkID(&fe, "ambassador_id", PrefixAmbassador, &c.AmbassadorID, false)
	} else {
		checkID(&fe, "program_id", PrefixProgram, &c.ProgramID, true)
		checkID(&fe, "ambassador_id", PrefixAmbassador, &c.AmbassadorID, true)
	}
	CheckText(&fe, "user_agent", &c.UserAgent, MaxUserAgentLen, false)
	CheckText(&fe, "referrer", &c.Referrer, MaxURLLen, false)
	checkMetadata(&fe, "metadata", c.Metadata)
	return fe
}

// ImpressionFilter narrows a list of impressions; set filters combine.
type ImpressionFilter struct {
	ListOptions
	ProgramID    string
	AmbassadorID string
	PlacementID  string
}

// ImpressionService records impressions.
type ImpressionService interface {
	// CreateImpression errors: validation_failed (not_found for unknown
	// program, ambassador or placement), idempotency_key_reused, unavailable.
	CreateImpression(ctx context.Context, in ImpressionCreate, idem Idempotency) (*Impression, bool, error)
	// FindImpressionByID errors: not_found.
	FindImpressionByID(ctx context.Context, id string) (*Impression, error)
	FindImpressions(ctx context.Context, f ImpressionFilter) (Page[*Impression], error)
}

// NewImpression is the impression that a valid create makes, for the
// program, ambassador and placement (nil: none) it resolved to.
func NewImpression(in ImpressionCreate, programID, ambassadorID string, placementID *string, id string, now Time) *Impression {
	m := &Impression{ID: id, ProgramID: programID, AmbassadorID: ambassadorID, PlacementID: placementID,
		Metadata: in.Metadata, CreatedAt: now}
	if in.UserAgent != "" {
		m.UserAgent = &in.UserAgent
	}
	if in.Referrer != "" {
		m.Referrer = &in.Referrer
	}
	return m
}

// AgreesWith checks a create that names placement p: the placement decides
// the program and the ambassador, so ones the request names as well must
// be its own.
func (c *ImpressionCreate) AgreesWith(p *Placement) FieldErrors {
	var fe FieldErrors
	if c.ProgramID != "" && c.ProgramID != p.ProgramID {
		fe.Add("program_id", FInvalidValue, "is not the program of placement %s", p.ID)
	}
	if c.AmbassadorID != "" && c.AmbassadorID != p.AmbassadorID {
		fe.Add("ambassador_id", FInvalidValue, "is not the ambassador of placement %s", p.ID)
	}
	return fe
}
