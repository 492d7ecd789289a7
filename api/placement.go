package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// withScanURL fills in the URL a placement's QR code carries.
func (s *Server) withScanURL(p *model.Placement) *model.Placement {
	p.ScanURL = poster.ScanURL(s.scanBase, p.Code)
	return p
}

// decodeLocation reads a location object.
func decodeLocation(o *object) *model.Location {
	l := &model.Location{Address: o.str("address")}
	for name, dst := range map[string]**float64{"latitude": &l.Latitude, "longitude": &l.Longitude} {
		if raw, _ := o.raw(name); raw != nil {
			var f float64
			if json.Unmarshal(raw, &f) != nil {
				o.typeError(name, "a number")
			} else {
				*dst = &f
			}
		}
	}
	o.finish()
	return l
}

// handlePlacementCreate serves POST /v1/placements.
func (s *Server) handlePlacementCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var in model.PlacementCreate
	in.ProgramID = o.str("program_id")
	in.AmbassadorID = o.str("ambassador_id")
	in.Label = o.str("label")
	if l, _ := o.object("location"); l != nil {
		in.Location = decodeLocation(l)
	}
	in.Metadata = o.metadata("metadata")
	idem := idempotency(r, o, "POST /v1/placements", principalOf(r), in)
	fe := o.finish()
	fe.Merge(in.Validate())
	// Checked here too so unknown records are reported with the request's
	// other problems.
	if !fe.Has("program_id") {
		if _, err := s.svc.Programs.FindProgramByID(r.Context(), in.ProgramID); model.ErrorCode(err) == model.ENotFound {
			fe.Add("program_id", model.FNotFound, "program %s does not exist", in.ProgramID)
		}
	}
	if !fe.Has("ambassador_id") {
		if _, err := s.svc.Ambassadors.FindAmbassadorByID(r.Context(), in.AmbassadorID); model.ErrorCode(err) == model.ENotFound {
			fe.Add("ambassador_id", model.FNotFound, "ambassador %s does not exist", in.AmbassadorID)
		}
	}
	if err := fe.Err(); err != nil {
		return err
	}
	p, replayed, err := s.svc.Placements.CreatePlacement(r.Context(), in, idem)
	if err != nil {
		return err
	}
	return s.writeCreated(w, r, "/v1/placements/"+p.ID, s.withScanURL(p), replayed)
}

// handlePlacementGet serves GET /v1/placements/:id.
func (s *Server) handlePlacementGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	pl, err := s.svc.Placements.FindPlacementByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withScanURL(pl))
	return nil
}

// handlePlacementList serves GET /v1/placements?program_id=&ambassador_id=.
func (s *Server) handlePlacementList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := model.PlacementFilter{ListOptions: q.list(model.PrefixPlacement)}
	f.ProgramID = q.id("program_id", model.PrefixProgram)
	f.AmbassadorID = q.id("ambassador_id", model.PrefixAmbassador)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := s.svc.Placements.FindPlacements(r.Context(), f)
	if err != nil {
		return err
	}
	for _, p := range page.Data {
		s.withScanURL(p)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// handlePlacementUpdate serves PATCH /v1/placements/:id.
func (s *Server) handlePlacementUpdate(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var u model.PlacementUpdate
	u.Label = o.strPtr("label")
	if l, given := o.object("location"); given {
		u.LocationSet = true
		if l != nil {
			u.Location = decodeLocation(l)
		}
	}
	if raw, given := o.raw("active"); given {
		var active bool
		if raw == nil || json.Unmarshal(raw, &active) != nil {
			o.typeError("active", "true or false")
		} else {
			u.Active = &active
		}
	}
	u.Metadata = o.metadataPtr("metadata")
	fe := o.finish()
	fe.Merge(u.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	pl, err := s.svc.Placements.UpdatePlacement(r.Context(), p.ByName("id"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withScanURL(pl))
	return nil
}

// handlePlacementQR serves GET /v1/placements/:id/qr.png and qr.svg
// (?size=&margin=&ecc=): the QR code of the placement's scan URL. Images
// are kept in s.qrImages (poster.Cache) and tagged with a hash of their
// bytes, so a client that sends the tag back in If-None-Match gets a 304.
func (s *Server) handlePlacementQR(format string) handler {
	return func(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
		q := newQuery(r)
		o := poster.Options{Margin: poster.DefaultMargin, Level: strings.ToUpper(q.str("ecc"))}
		for name, dst := range map[string]*int{"size": &o.Size, "margin": &o.Margin} {
			if v := q.str(name); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					q.errs.Add(name, model.FInvalidValue, "must be an integer")
				}
				*dst = n
			}
		}
		if err := o.Check(); err != nil && !q.errs.Has("size") && !q.errs.Has("margin") {
			q.errs.Add(strings.Fields(err.Error())[0], model.FInvalidValue, "%s", err)
		}
		if err := q.finish(); err != nil {
			return err
		}
		pl, err := s.svc.Placements.FindPlacementByID(r.Context(), p.ByName("id"))
		if err != nil {
			return err
		}
		img, err := s.qrImages.Image(format, s.withScanURL(pl).ScanURL, o)
		if err != nil {
			return err
		}
		img.Serve(w, r)
		return nil
	}
}

// maxPosters bounds one poster sheet: each poster is a new placement.
const maxPosters = 50

// posterRequest is the body of POST /v1/ambassadors/:id/posters.
type posterRequest struct {
	ProgramID string `json:"program_id"`
	Count     int64  `json:"count"`
	Paper     string `json:"paper"`
	Label     string `json:"label"`
	CTA       string `json:"cta"`
	// Layout is left out of the fingerprint when not given, so that a
	// request without one has the fingerprint it had before layouts.
	Layout string `json:"layout,omitempty"`
}

// handlePosters serves POST /v1/ambassadors/:id/posters {"program_id",
// "count", "layout", "paper", "label", "cta"}: it creates count new
// placements for the ambassador in the program, in one transaction, and
// answers a print-ready PDF of them laid out as layout says, with the
// program's poster design. A POST, since every call makes new posters;
// its idempotency key replays the same posters.
func (s *Server) handlePosters(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	in := posterRequest{ProgramID: o.str("program_id"), Count: 1, Layout: o.str("layout"), Paper: strings.ToLower(o.str("paper")),
		Label: o.str("label"), CTA: o.str("cta")}
	if raw, _ := o.raw("count"); raw != nil {
		in.Count = o.int64("count")
	}
	idem := idempotency(r, o, "POST /v1/ambassadors/:id/posters", principalOf(r), struct {
		Ambassador string
		Request    posterRequest
	}{p.ByName("id"), in})
	fe := o.finish()
	// The label and the call to action are printed: the posters' fonts
	// must have their letters.
	model.CheckPrintable(&fe, "label", &in.Label, model.MaxLabelLen)
	model.CheckPrintable(&fe, "cta", &in.CTA, model.MaxCallToActionLen)
	// The placements' own rules check the program and the label.
	pc := model.PlacementCreate{ProgramID: in.ProgramID, AmbassadorID: p.ByName("id"), Label: in.Label}
	problems := pc.Validate()
	if problems.Has("ambassador_id") {
		return model.NotFound(model.PrefixAmbassador, pc.AmbassadorID) // a malformed ID in the path
	}
	fe.Merge(problems)
	if !fe.Has("count") && (in.Count < 1 || in.Count > maxPosters) {
		fe.Add("count", model.FInvalidValue, "must be from 1 to %d", maxPosters)
	}
	layout := poster.Layout(strings.ToLower(strings.TrimSpace(in.Layout)))
	if layout == "" {
		layout = poster.LayoutPoster
	} else if !layout.Valid() {
		fe.Add("layout", model.FInvalidValue, "must be one of %s", poster.LayoutNames())
	}
	paper := in.Paper
	if paper == "" {
		paper = "a4"
	} else if _, ok := poster.Papers[paper]; !ok {
		fe.Add("paper", model.FInvalidValue, "must be a4 or letter")
	}
	if err := fe.Err(); err != nil {
		return err
	}
	ctx := r.Context()
	amb, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, pc.AmbassadorID)
	if err != nil {
		return err
	}
	prg, err := s.svc.Programs.FindProgramByID(ctx, pc.ProgramID)
	if model.ErrorCode(err) == model.ENotFound {
		return model.FieldNotFound("program_id", model.PrefixProgram, pc.ProgramID)
	} else if err != nil {
		return err
	}
	design, logo, err := s.designOf(ctx, prg.ID)
	if err != nil {
		return err
	}
	// Refused before anything is made: posters that cannot print the
	// name the design shows would be placements nobody can print.
	if err := design.CheckName(amb.FirstName); err != nil {
		fe.Add("ambassador_id", model.FInvalidValue, "names an ambassador whose first name %s, and this program's poster design "+
			"shows the ambassador's name: change the name, or turn off show_ambassador_name in the poster design", err)
		return fe.Err()
	}
	made, replayed, err := s.svc.Placements.CreatePlacements(ctx, pc, int(in.Count), idem)
	if err != nil {
		return err
	}
	job := poster.Print{Program: prg, Design: design, Logo: logo, Ambassadors: map[string]*model.Ambassador{amb.ID: amb},
		Placements: made, ScanBase: s.scanBase, Layout: layout, Paper: paper}.Job()
	if in.CTA != "" {
		job.Design.CallToAction = in.CTA
	}
	var buf bytes.Buffer
	if err := poster.PDF(&buf, job); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Disposition", `attachment; filename="posters-`+amb.ID+`.pdf"`)
	s.markReplayed(w, r, replayed)
	w.WriteHeader(http.StatusCreated)
	w.Write(buf.Bytes())
	return nil
}
