package store

import (
	"bytes"
	"context"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/referrald/referrald/model"
)

var _ model.PrintRunService = (*Store)(nil)

func encodePrintRun(r *model.PrintRun) []byte {
	e := newEncoder()
	e.idKey(model.PrefixProgram, r.ProgramID)
	e.str(r.Layout)
	e.str(r.Paper)
	e.uvarint(uint64(r.Count))
	e.uvarint(uint64(len(r.AmbassadorIDs)))
	for _, id := range r.AmbassadorIDs {
		e.idKey(model.PrefixAmbassador, id)
	}
	e.str(r.School)
	e.str(r.Label)
	e.uvarint(uint64(len(r.PlacementIDs)))
	for _, id := range r.PlacementIDs {
		e.idKey(model.PrefixPlacement, id)
	}
	e.time(r.CreatedAt)
	return e.b
}

func decodePrintRun(key, val []byte) (*model.PrintRun, error) {
	d := newDecoder(val)
	r := &model.PrintRun{ID: model.FormatID(model.PrefixPrintRun, [16]byte(key))}
	r.ProgramID = d.id(model.PrefixProgram)
	r.Layout = d.str()
	r.Paper = d.str()
	r.Count = int(d.uvarint())
	r.AmbassadorIDs = decodeIDs(d, model.PrefixAmbassador)
	r.School = d.str()
	r.Label = d.str()
	r.PlacementIDs = decodeIDs(d, model.PrefixPlacement)
	r.Placements = len(r.PlacementIDs)
	r.CreatedAt = d.time()
	return r, d.err
}

// decodeIDs reads a list of record keys as IDs with prefix.
func decodeIDs(d *decoder, prefix string) []string {
	n := d.count()
	ids := make([]string, 0, n)
	for range n {
		if d.err != nil {
			return nil
		}
		ids = append(ids, d.id(prefix))
	}
	return ids
}

// CreatePrintRun implements model.PrintRunService. The check step reads
// the program, the ambassadors (resolving a school among the active
// ones), the program's design and draws every code; only then does the
// apply write the placements, the run, its index and the audit entries,
// so a refused run leaves nothing behind. The idempotency entry keeps
// the run, which never changes.
func (s *Store) CreatePrintRun(ctx context.Context, in model.PrintRunCreate, idem model.Idempotency) (*model.PrintRun, bool, error) {
	if err := in.Validate().Err(); err != nil {
		return nil, false, err
	}
	snap, replayed, err := s.create(ctx, idem, func(w *wtx) ([]byte, func() error, error) {
		prg, err := getRecord(w.tx, bucketPrograms, model.PrefixProgram, in.ProgramID, decodeProgram)
		if model.ErrorCode(err) == model.ENotFound {
			return nil, nil, model.FieldNotFound("program_id", model.PrefixProgram, in.ProgramID)
		} else if err != nil {
			return nil, nil, err
		}
		ambassadors, field, err := printRunAmbassadors(w.tx, in)
		if err != nil {
			return nil, nil, err
		}
		if prg.Status == model.ProgramArchived {
			return nil, nil, model.Errorf(model.EConflict, "program %s is archived; set its status to active to print posters", prg.ID)
		}
		design, _, err := getPosterDesign(w.tx, prg.ID)
		if err != nil {
			return nil, nil, err
		}
		fe := model.CheckPrintRunAmbassadors(design, ambassadors, field)
		model.CheckPrintRunSize(&fe, len(ambassadors), in.Count)
		if err := fe.Err(); err != nil {
			return nil, nil, err
		}
		ambassadorIDs := make([]string, len(ambassadors))
		ins := make([]model.PlacementCreate, 0, len(ambassadors)*in.Count)
		for i, a := range ambassadors {
			ambassadorIDs[i] = a.ID
			for range in.Count {
				ins = append(ins, model.PlacementCreate{ProgramID: prg.ID, AmbassadorID: a.ID, Label: in.Label})
			}
		}
		made, err := makePlacements(w, ins)
		if err != nil {
			return nil, nil, err
		}
		placementIDs := make([]string, len(made))
		for i, p := range made {
			placementIDs[i] = p.p.ID
		}
		key := w.newKey()
		run := model.NewPrintRun(in, model.FormatID(model.PrefixPrintRun, key), ambassadorIDs, placementIDs, model.NewTime(w.now))
		val := encodePrintRun(run)
		return snapshot(key, val), func() error {
			if err := putPlacements(w, made); err != nil {
				return err
			}
			if err := w.tx.Bucket(bucketPrintRuns).Put(key[:], val); err != nil {
				return err
			}
			prgKey := keyOf(model.PrefixProgram, prg.ID)
			if err := putIndexes(w.tx, key, indexEntry{bucketPrintRunsByProgram, prgKey[:]}); err != nil {
				return err
			}
			return w.auditf("print_run.created", run.ID, "%d placements in program %s, %d for each of %d ambassadors, layout %s on %s",
				run.Placements, run.ProgramID, run.Count, len(run.AmbassadorIDs), run.Layout, run.Paper)
		}, nil
	})
	return fromSnapshot(snap, replayed, err, decodePrintRun)
}

// printRunAmbassadors reads whom in is for: the ambassadors it names, in
// its order, or everyone active at its school, by name. field names the
// request field of each, for their problems; an unknown ambassador or a
// school without one are field errors here.
func printRunAmbassadors(tx *bolt.Tx, in model.PrintRunCreate) ([]*model.Ambassador, func(int) string, error) {
	var fe model.FieldErrors
	if in.School == "" {
		out := make([]*model.Ambassador, 0, len(in.AmbassadorIDs))
		for i, id := range in.AmbassadorIDs {
			a, err := getRecord(tx, bucketAmbassadors, model.PrefixAmbassador, id, decodeAmbassador)
			if model.ErrorCode(err) == model.ENotFound {
				fe.Add(model.AmbassadorIDField(i), model.FNotFound, "ambassador %s does not exist", id)
				continue
			} else if err != nil {
				return nil, nil, err
			}
			out = append(out, a)
		}
		return out, model.AmbassadorIDField, fe.Err()
	}
	school := strings.ToLower(strings.TrimSpace(in.School))
	var out []*model.Ambassador
	err := activeAmbassadors(tx, func(a *model.Ambassador) {
		if a.School != nil && ambassadorMatches(a, "", school) {
			out = append(out, a)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	switch {
	case len(out) == 0:
		fe.Add("school", model.FNotFound, "has no active ambassador: check how their records spell it")
	case len(out) > model.MaxPrintRunAmbassadors:
		fe.Add("school", model.FInvalidValue, "has %d active ambassadors; one print run is for at most %d, so name them in parts with ambassador_ids",
			len(out), model.MaxPrintRunAmbassadors)
	}
	// By name, so the printed pile is handed out in order.
	slices.SortFunc(out, func(a, b *model.Ambassador) int {
		if c := strings.Compare(strings.ToLower(a.LastName+" "+a.FirstName), strings.ToLower(b.LastName+" "+b.FirstName)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, func(int) string { return "school" }, fe.Err()
}

// schoolScanLimit is model.MaxSchoolScan, lowered by a test of the bound.
var schoolScanLimit = model.MaxSchoolScan

// activeAmbassadors calls fn with each active ambassador, oldest first,
// or returns validation_failed (school) without calling it when there
// are more than schoolScanLimit of them: ambassadors are not indexed
// by school, so finding a school's reads them all, and past that bound
// it would hold the store too long. They are counted first, on the
// status index alone, which costs a fraction of decoding them.
func activeAmbassadors(tx *bolt.Tx, fn func(a *model.Ambassador)) error {
	prefix := []byte{ambassadorActive}
	c := tx.Bucket(bucketAmbassadorsByStatus).Cursor()
	n := 0
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if n++; n > schoolScanLimit {
			var fe model.FieldErrors
			fe.Add("school", model.FInvalidValue, "cannot be looked for among more than %d active ambassadors: name them with ambassador_ids instead",
				schoolScanLimit)
			return fe.Err()
		}
	}
	ambassadors := tx.Bucket(bucketAmbassadors)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+16 {
			continue
		}
		a, err := decodeAmbassador(k[1:], ambassadors.Get(k[1:]))
		if err != nil {
			return err
		}
		fn(a)
	}
	return nil
}

// Schools implements model.PrintRunService: one read of every active
// ambassador, as a run by school makes.
func (s *Store) Schools(ctx context.Context) (out []model.School, err error) {
	// Each school by its name in lower case, with its spellings in the
	// order they were first seen, oldest ambassador first.
	type school struct {
		n         int
		spellings []string
		uses      map[string]int
	}
	found := map[string]*school{}
	err = s.view(func(tx *bolt.Tx) error {
		return activeAmbassadors(tx, func(a *model.Ambassador) {
			if a.School == nil {
				return
			}
			name := strings.TrimSpace(*a.School)
			key := strings.ToLower(name)
			if key == "" {
				return
			}
			sc := found[key]
			if sc == nil {
				sc = &school{uses: map[string]int{}}
				found[key] = sc
			}
			if sc.uses[name] == 0 {
				sc.spellings = append(sc.spellings, name)
			}
			sc.n++
			sc.uses[name]++
		})
	})
	if err != nil {
		return nil, err
	}
	out = make([]model.School, 0, len(found))
	for _, sc := range found {
		// The spelling most of them use; of equally common ones, the
		// oldest, so the name does not change from one read to the next.
		best := sc.spellings[0]
		for _, name := range sc.spellings[1:] {
			if sc.uses[name] > sc.uses[best] {
				best = name
			}
		}
		out = append(out, model.School{Name: best, Ambassadors: sc.n})
	}
	slices.SortFunc(out, func(a, b model.School) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return out, nil
}

// FindPrintRunByID implements model.PrintRunService.
func (s *Store) FindPrintRunByID(ctx context.Context, id string) (r *model.PrintRun, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		r, err = getRecord(tx, bucketPrintRuns, model.PrefixPrintRun, id, decodePrintRun)
		return err
	})
	return r, err
}

// FindPrintRuns implements model.PrintRunService.
func (s *Store) FindPrintRuns(ctx context.Context, f model.PrintRunFilter) (p model.Page[*model.PrintRun], err error) {
	bucket, prefix := bucketPrintRuns, []byte(nil)
	if f.ProgramID != "" {
		bucket, prefix = bucketPrintRunsByProgram, idPrefix(model.PrefixProgram, f.ProgramID)
	}
	load := func(tx *bolt.Tx, key []byte) (*model.PrintRun, bool, error) {
		r, err := decodePrintRun(key, tx.Bucket(bucketPrintRuns).Get(key))
		return r, err == nil, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		p, err = listPage(tx, bucket, prefix, model.PrefixPrintRun, f.ListOptions, load)
		return err
	})
	return p, err
}

// FindPrintRunRecords implements model.PrintRunService.
func (s *Store) FindPrintRunRecords(ctx context.Context, id string, logo bool) (rec *model.PrintRunRecords, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		run, err := getRecord(tx, bucketPrintRuns, model.PrefixPrintRun, id, decodePrintRun)
		if err != nil {
			return err
		}
		rec = &model.PrintRunRecords{Run: run, Ambassadors: make(map[string]*model.Ambassador, len(run.AmbassadorIDs))}
		// A run's records are never deleted: one missing is corruption.
		if rec.Program, err = getRecord(tx, bucketPrograms, model.PrefixProgram, run.ProgramID, decodeProgram); err != nil {
			return errCorrupt
		}
		var key [16]byte
		if rec.Design, key, err = getPosterDesign(tx, run.ProgramID); err != nil {
			return err
		}
		if v := tx.Bucket(bucketPosterLogos).Get(key[:]); logo && rec.Design.Logo != nil && v != nil {
			rec.Logo = bytes.Clone(v)
		}
		for _, id := range run.AmbassadorIDs {
			a, err := getRecord(tx, bucketAmbassadors, model.PrefixAmbassador, id, decodeAmbassador)
			if err != nil {
				return errCorrupt
			}
			rec.Ambassadors[a.ID] = a
		}
		rec.Placements = make([]*model.Placement, 0, len(run.PlacementIDs))
		for _, id := range run.PlacementIDs {
			p, err := getRecord(tx, bucketPlacements, model.PrefixPlacement, id, decodePlacement)
			if err != nil {
				return errCorrupt
			}
			rec.Placements = append(rec.Placements, p)
		}
		return nil
	})
	return rec, err
}
