package model

import (
	"context"
	"math"
	"strings"
	"time"
)

// Placement is one poster: where it hangs, whose it is, and the short code
// its QR code carries.
type Placement struct {
	ID           string    `json:"id"`
	ProgramID    string    `json:"program_id"`
	AmbassadorID string    `json:"ambassador_id"`
	Label        *string   `json:"label"`
	Location     *Location `json:"location"`
	// Code is the short, unguessable code in the scan URL.
	Code string `json:"code"`
	// ScanURL is what the QR code encodes.
	ScanURL string `json:"scan_url"`
	// Active is false for a poster taken down: its scans record nothing.
	Active    bool     `json:"active"`
	Metadata  Metadata `json:"metadata"`
	CreatedAt Time     `json:"created_at"`
	UpdatedAt Time     `json:"updated_at"`
}

// Location is where a poster hangs; every part is optional.
type Location struct {
	Address   string   `json:"address,omitempty"`
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
}

func (l *Location) check(fe *FieldErrors) {
	CheckText(fe, "location.address", &l.Address, MaxLabelLen, false)
	if l.Latitude != nil && (math.IsNaN(*l.Latitude) || *l.Latitude < -90 || *l.Latitude > 90) {
		fe.Add("location.latitude", FInvalidValue, "must be from -90 to 90")
	}
	if l.Longitude != nil && (math.IsNaN(*l.Longitude) || *l.Longitude < -180 || *l.Longitude > 180) {
		fe.Add("location.longitude", FInvalidValue, "must be from -180 to 180")
	}
}

// CodeAlphabet is what placement codes are made of: lower-case letters and
// digits without the look-alikes 0/o, 1/l/i, so a code read off a poster
// can be typed back.
const CodeAlphabet = "23456789abcdefghjkmnpqrstuvwxyz"

// CodeLen is the length of a placement code: 31^10 ≈ 8 × 10^14 codes, far
// too many to find a live one by guessing at the scan route's rate limit.
const CodeLen = 10

// ValidCode reports whether s could be a placement code.
func ValidCode(s string) bool {
	if len(s) != CodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(CodeAlphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

// PlacementCreate is the body of POST /v1/placements.
type PlacementCreate struct {
	ProgramID    string    `json:"program_id"`
	AmbassadorID string    `json:"ambassador_id"`
	Label        string    `json:"label,omitempty"`
	Location     *Location `json:"location,omitempty"`
	Metadata     Metadata  `json:"metadata,omitempty"`
}

// Validate normalizes c in place and returns its problems.
func (c *PlacementCreate) Validate() FieldErrors {
	var fe FieldErrors
	checkID(&fe, "program_id", PrefixProgram, &c.ProgramID, true)
	checkID(&fe, "ambassador_id", PrefixAmbassador, &c.AmbassadorID, true)
	CheckText(&fe, "label", &c.Label, MaxLabelLen, false)
	if c.Location != nil {
		c.Location.check(&fe)
	}
	checkMetadata(&fe, "metadata", c.Metadata)
	return fe
}

// PlacementUpdate is the body of PATCH /v1/placements/{id}.
type PlacementUpdate struct {
	// Label replaces the label; "" clears it.
	Label *string
	// Location replaces the location when LocationSet; nil clears it.
	Location    *Location
	LocationSet bool
	Active      *bool
	Metadata    *Metadata
}

// Validate normalizes u in place and returns its problems.
func (u *PlacementUpdate) Validate() FieldErrors {
	var fe FieldErrors
	if u.Label != nil {
		CheckText(&fe, "label", u.Label, MaxLabelLen, false)
	}
	if u.Location != nil {
		u.Location.check(&fe)
	}
	if u.Metadata != nil {
		checkMetadata(&fe, "metadata", *u.Metadata)
	}
	return fe
}

// Apply changes p as u says.
func (u *PlacementUpdate) Apply(p *Placement) {
	if u.Label != nil {
		p.Label = nil
		if *u.Label != "" {
			p.Label = ptr(*u.Label)
		}
	}
	if u.LocationSet {
		p.Location = u.Location
	}
	if u.Active != nil {
		p.Active = *u.Active
	}
	if u.Metadata != nil {
		p.Metadata = *u.Metadata
	}
}

// MaxPlacementBatch bounds a CreatePlacementBatch: the pages of a
// printout of posters, made in one transaction.
const MaxPlacementBatch = 500

// PlacementFilter narrows a list of placements.
type PlacementFilter struct {
	ListOptions
	ProgramID    string
	AmbassadorID string
}

// Scan is one GET of a poster's scan URL, as the scan route saw it.
type Scan struct {
	Code      string
	UserAgent string
	Referrer  string
	// IPHash is a keyed hash of the client's IP with a key that changes
	// every day: repeat scans within a day can be told apart, people
	// cannot be followed across days, and the IP itself is never kept.
	IPHash [16]byte
	// Bot says the user agent is a crawler or link-preview fetcher.
	Bot bool
}

// ScanResult is what the scan route answers with.
type ScanResult struct {
	// Impression is nil when nothing was recorded (an inactive poster).
	Impression *Impression
	LandingURL string
	Active     bool
}

// PlacementService manages placements and records their scans.
type PlacementService interface {
	// CreatePlacement errors: validation_failed (not_found for an unknown
	// program or ambassador), conflict (the program is archived),
	// idempotency_key_reused, unavailable.
	CreatePlacement(ctx context.Context, in PlacementCreate, idem Idempotency) (*Placement, bool, error)
	// CreatePlacements makes n placements like in, all or none, under one
	// idempotency key; a replay returns the same placements. Errors as
	// CreatePlacement.
	CreatePlacements(ctx context.Context, in PlacementCreate, n int, idem Idempotency) ([]*Placement, bool, error)
	// CreatePlacementBatch makes a placement of each of ins, which need
	// not be alike (a sheet of posters for many ambassadors), all or
	// none, under one idempotency key; a replay returns the same
	// placements. Errors as CreatePlacement, for the first of ins that
	// has one, and validation_failed (placements) for none or more than
	// MaxPlacementBatch.
	CreatePlacementBatch(ctx context.Context, ins []PlacementCreate, idem Idempotency) ([]*Placement, bool, error)
	// FindPlacementByID errors: not_found.
	FindPlacementByID(ctx context.Context, id string) (*Placement, error)
	// FindPlacementByCode finds the placement whose QR code carries code
	// (lower case), recording nothing. Errors: not_found.
	FindPlacementByCode(ctx context.Context, code string) (*Placement, error)
	FindPlacements(ctx context.Context, f PlacementFilter) (Page[*Placement], error)
	// UpdatePlacement errors: not_found.
	UpdatePlacement(ctx context.Context, id string, u PlacementUpdate) (*Placement, error)
	// RecordScan records an impression for the placement with code s.Code
	// (flagged when a bot or a repeat within window) and says where to send
	// the visitor. Errors: not_found (unknown code).
	RecordScan(ctx context.Context, s Scan, repeatWindow int64) (ScanResult, error)
}

// Impression flags set by the scan route; flagged impressions are left
// out of the funnel's rates.
const (
	FlagBot    = "bot"
	FlagRepeat = "repeat_scan"
)

// botMarkers are substrings of user agents that are not people: crawlers
// and the link-preview fetchers of chat apps and social networks.
var botMarkers = []string{"bot", "crawl", "spider", "slurp", "preview", "facebookexternalhit", "whatsapp", "telegram",
	"slack", "discord", "skype", "linkedin", "embedly", "quora link", "pinterest", "vkshare", "w3c_validator",
	"curl/", "wget/", "python-requests", "go-http-client", "headlesschrome", "lighthouse"}

// IsBot reports whether a user agent looks like a crawler or a link
// preview rather than a phone's camera app or browser. An empty user agent
// counts as a bot: every real browser sends one.
func IsBot(userAgent string) bool {
	ua := strings.ToLower(userAgent)
	if strings.TrimSpace(ua) == "" {
		return true
	}
	for _, m := range botMarkers {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}

// NewPlacement is the placement that a valid create makes, with its code.
func NewPlacement(in PlacementCreate, id, code string, now Time) *Placement {
	p := &Placement{ID: id, ProgramID: in.ProgramID, AmbassadorID: in.AmbassadorID, Location: in.Location, Code: code,
		Active: true, Metadata: in.Metadata, CreatedAt: now, UpdatedAt: now}
	if in.Label != "" {
		p.Label = &in.Label
	}
	return p
}

// NewScanImpression is the impression a scan of placement p records at
// now (called id): flagged as a bot's, and as a repeat when the same
// client last scanned that poster within repeatWindow (lastScan nil: it
// never did, as far as the store remembers).
func NewScanImpression(sc Scan, p *Placement, lastScan *time.Time, repeatWindow time.Duration, id string, now time.Time) *Impression {
	var flags Flags
	if sc.Bot {
		flags = append(flags, FlagBot)
	}
	if lastScan != nil && now.Sub(*lastScan) < repeatWindow {
		flags = append(flags, FlagRepeat)
	}
	placementID := p.ID
	m := &Impression{ID: id, ProgramID: p.ProgramID, AmbassadorID: p.AmbassadorID, PlacementID: &placementID,
		Flags: flags, CreatedAt: NewTime(now)}
	if sc.UserAgent != "" {
		m.UserAgent = &sc.UserAgent
	}
	if sc.Referrer != "" {
		m.Referrer = &sc.Referrer
	}
	return m
}
