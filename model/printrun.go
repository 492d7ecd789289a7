package model

import (
	"context"
	"slices"
	"strconv"
	"strings"
)

// PrintRun is one printing of posters for many ambassadors at once: the
// placements it made (count for each ambassador), kept together so the
// sheets of one printout can be found and followed afterwards.
type PrintRun struct {
	ID        string `json:"id"`
	ProgramID string `json:"program_id"`
	// Layout is one of PrintLayouts: how the placements sit on pages.
	Layout string `json:"layout"`
	// Paper is one of PrintPapers.
	Paper string `json:"paper"`
	// Count is how many placements each ambassador has in the run.
	Count int `json:"count"`
	// AmbassadorIDs are the run's ambassadors in print order.
	AmbassadorIDs []string `json:"ambassador_ids"`
	// School is the school the ambassadors were chosen by: everyone
	// active there when the run was made. "" when they were named.
	School string `json:"school"`
	// Label is printed small on every sheet; "" for none.
	Label string `json:"label"`
	// PlacementIDs are the run's placements in print order: each
	// ambassador's Count of them, in the order of AmbassadorIDs.
	PlacementIDs []string `json:"placement_ids"`
	// Placements is len(PlacementIDs).
	Placements int  `json:"placements"`
	CreatedAt  Time `json:"created_at"`
}

// Layouts and papers a print run takes. They are the renderer's (package
// poster), named here as well because a run keeps its layout as part of
// the record, and model imports nothing of ours that could name them; a
// test of the api package holds the two lists equal.
var (
	PrintLayouts = []string{"poster", "flyer4", "stickers8", "stickers12", "tearoff"}
	PrintPapers  = []string{"a4", "letter"}
)

// Defaults and bounds of a print run. MaxPrintRunPlacements keeps one
// run's transaction, and its PDF, a moment's work for the store's one
// writer and a few seconds' for the renderer.
const (
	DefaultPrintLayout     = "poster"
	DefaultPrintPaper      = "a4"
	MaxPrintRunAmbassadors = 200
	MaxPrintRunCount       = 50
	MaxPrintRunPlacements  = 1000
	// MaxSchoolScan bounds how many active ambassadors are read to find
	// those of one school: ambassadors are not indexed by school, so the
	// look-up reads each active one, and beyond this many it would hold
	// the store too long. Past it, ambassadors are named instead.
	MaxSchoolScan = 20000
)

// PrintRunCreate is the body of POST /v1/print_runs. Exactly one of
// AmbassadorIDs and School says who the run is for.
type PrintRunCreate struct {
	ProgramID     string   `json:"program_id"`
	AmbassadorIDs []string `json:"ambassador_ids,omitempty"`
	School        string   `json:"school,omitempty"`
	Layout        string   `json:"layout"`
	Paper         string   `json:"paper"`
	Count         int      `json:"count"`
	Label         string   `json:"label,omitempty"`
}

// AmbassadorIDField names the i'th of a create's ambassador_ids in its
// field errors: "ambassador_ids[2]", as the API names array elements.
func AmbassadorIDField(i int) string { return "ambassador_ids[" + strconv.Itoa(i) + "]" }

// Validate normalizes c in place (layout and paper default to
// DefaultPrintLayout and DefaultPrintPaper, IDs to their canonical form)
// and returns its problems: every rule that needs no record.
func (c *PrintRunCreate) Validate() FieldErrors {
	var fe FieldErrors
	checkID(&fe, "program_id", PrefixProgram, &c.ProgramID, true)
	c.School = strings.TrimSpace(c.School)
	switch {
	case len(c.AmbassadorIDs) > 0 && c.School != "":
		fe.Add("school", FInvalidValue, "cannot be given with ambassador_ids: choose the ambassadors by ID or by school")
	case len(c.AmbassadorIDs) == 0 && c.School == "":
		fe.Add("ambassador_ids", FRequired, "are required: list 1 to %d ambassadors, or give a school", MaxPrintRunAmbassadors)
	case c.School != "":
		CheckText(&fe, "school", &c.School, MaxLabelLen, true)
	case len(c.AmbassadorIDs) > MaxPrintRunAmbassadors:
		fe.Add("ambassador_ids", FInvalidValue, "must list at most %d ambassadors; this lists %d", MaxPrintRunAmbassadors, len(c.AmbassadorIDs))
	default:
		seen := make(map[string]int, len(c.AmbassadorIDs))
		for i := range c.AmbassadorIDs {
			field := AmbassadorIDField(i)
			checkID(&fe, field, PrefixAmbassador, &c.AmbassadorIDs[i], true)
			if fe.Has(field) {
				continue
			}
			if j, ok := seen[c.AmbassadorIDs[i]]; ok {
				fe.Add(field, FInvalidValue, "repeats %s: list each ambassador once and set count", AmbassadorIDField(j))
				continue
			}
			seen[c.AmbassadorIDs[i]] = i
		}
	}
	if c.Layout = strings.ToLower(strings.TrimSpace(c.Layout)); c.Layout == "" {
		c.Layout = DefaultPrintLayout
	} else if !slices.Contains(PrintLayouts, c.Layout) {
		fe.Add("layout", FInvalidValue, "must be one of %s", strings.Join(PrintLayouts, ", "))
	}
	if c.Paper = strings.ToLower(strings.TrimSpace(c.Paper)); c.Paper == "" {
		c.Paper = DefaultPrintPaper
	} else if !slices.Contains(PrintPapers, c.Paper) {
		fe.Add("paper", FInvalidValue, "must be a4 or letter")
	}
	if c.Count < 1 || c.Count > MaxPrintRunCount {
		fe.Add("count", FInvalidValue, "must be from 1 to %d", MaxPrintRunCount)
	}
	CheckPrintable(&fe, "label", &c.Label, MaxLabelLen)
	if len(c.AmbassadorIDs) > 0 && !fe.Has("ambassador_ids") && !fe.Has("count") {
		CheckPrintRunSize(&fe, len(c.AmbassadorIDs), c.Count)
	}
	return fe
}

// CheckPrintRunSize reports, on count, a run of ambassadors with count
// placements each that would make more than MaxPrintRunPlacements.
func CheckPrintRunSize(fe *FieldErrors, ambassadors, count int) {
	if total := ambassadors * count; total > MaxPrintRunPlacements {
		fe.Add("count", FInvalidValue, "%d for each of %d ambassadors would make %d placements; one print run makes at most %d, so print in parts or fewer each",
			count, ambassadors, total, MaxPrintRunPlacements)
	}
}

// CheckPrintRunAmbassadors reports the ambassadors a run cannot print
// for, each on field(i) for the i'th of ambassadors: a paused one, whose
// posters would not credit anyone, and, when design prints ambassadors'
// names, one whose first name the posters' fonts cannot print.
func CheckPrintRunAmbassadors(design *PosterDesign, ambassadors []*Ambassador, field func(i int) string) FieldErrors {
	var fe FieldErrors
	for i, a := range ambassadors {
		name := a.FirstName + " " + a.LastName
		if a.Status != AmbassadorActive {
			fe.Add(field(i), FInvalidValue, "ambassador %s (%s) is paused: make them active first, or leave them out", a.ID, name)
			continue
		}
		if msg := unprintableName(design, a); msg != "" {
			fe.Add(field(i), FInvalidValue, "%s", msg)
		}
	}
	return fe
}

// CheckPrintableName returns a conflict when design prints ambassadors'
// first names and a's cannot be printed: the run was made before the
// design or the name changed, and prints again once either changes back.
func CheckPrintableName(design *PosterDesign, a *Ambassador) error {
	if msg := unprintableName(design, a); msg != "" {
		return Errorf(EConflict, "%s", msg)
	}
	return nil
}

// unprintableName says why a's first name cannot go on posters of
// design; "" when it can, or when the design prints no names.
func unprintableName(design *PosterDesign, a *Ambassador) string {
	if design == nil || !design.ShowAmbassadorName || a == nil {
		return ""
	}
	if err := Printable(a.FirstName); err != nil {
		return "the first name of ambassador " + a.ID + " (" + a.FirstName + " " + a.LastName + ") " + err.Error() +
			"; the program's poster design shows ambassadors' names, so change the name or turn show_ambassador_name off"
	}
	return ""
}

// NewPrintRun is the run a valid create makes, for ambassadorIDs (those
// in.School resolved to, or in.AmbassadorIDs) and the placements made.
func NewPrintRun(in PrintRunCreate, id string, ambassadorIDs, placementIDs []string, now Time) *PrintRun {
	return &PrintRun{ID: id, ProgramID: in.ProgramID, Layout: in.Layout, Paper: in.Paper, Count: in.Count,
		AmbassadorIDs: ambassadorIDs, School: in.School, Label: in.Label, PlacementIDs: placementIDs,
		Placements: len(placementIDs), CreatedAt: now}
}

// PrintRunFilter narrows a list of print runs.
type PrintRunFilter struct {
	ListOptions
	ProgramID string
}

// PrintRunRecords are a run and what printing it takes, read together.
type PrintRunRecords struct {
	Run     *PrintRun
	Program *Program
	// Design is the program's poster design as it is now: a run prints
	// with the design of the day it is printed.
	Design *PosterDesign
	// Logo is the design's logo PNG, when asked for and there is one.
	Logo []byte
	// Placements are the run's, in its order.
	Placements []*Placement
	// Ambassadors are the placements' ambassadors, by ID.
	Ambassadors map[string]*Ambassador
}

// School is a school that active ambassadors give, as a print run by
// school would find them.
type School struct {
	// Name is the school as most of its ambassadors spell it.
	Name string `json:"name"`
	// Ambassadors is how many active ambassadors give it, in any case.
	Ambassadors int `json:"ambassadors"`
}

// PrintRunService makes and finds print runs.
type PrintRunService interface {
	// CreatePrintRun makes every placement of the run and the run itself,
	// all or none, under one idempotency key; a replay returns the same
	// run. A run by school is for every active ambassador whose school
	// is in.School, ignoring case and surrounding spaces, in name order.
	// Errors: validation_failed (in.Validate's problems; an unknown
	// program or ambassador; a paused ambassador or a name the design
	// cannot print, each on its ambassador_ids[i], or on school; a school
	// with no active ambassador, or too many), conflict (the program is
	// archived), idempotency_key_reused, unavailable.
	CreatePrintRun(ctx context.Context, in PrintRunCreate, idem Idempotency) (*PrintRun, bool, error)
	// FindPrintRunByID errors: not_found.
	FindPrintRunByID(ctx context.Context, id string) (*PrintRun, error)
	// FindPrintRuns lists runs newest first, of one program when
	// f.ProgramID is set. Errors: validation_failed (a bad cursor).
	FindPrintRuns(ctx context.Context, f PrintRunFilter) (Page[*PrintRun], error)
	// FindPrintRunRecords reads run id with its program, design,
	// placements and their ambassadors, and the logo when logo is set
	// (only printing needs it), in one read. Errors: not_found.
	FindPrintRunRecords(ctx context.Context, id string, logo bool) (*PrintRunRecords, error)
	// Schools lists the schools of active ambassadors, by name, for
	// choosing a run by school. Errors: validation_failed (school) when
	// there are more than MaxSchoolScan active ambassadors to read.
	Schools(ctx context.Context) ([]School, error)
}
