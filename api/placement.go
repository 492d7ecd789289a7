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
}

// handlePosters serves POST /v1/ambassadors/:id/posters {"program_id",
// "count", "paper", "label", "cta"}: it creates count new placements for the
// ambassador in the program, in one transaction, and answers a print-ready
// PDF with a poster for each. A POST, since every call makes new posters;
// its idempotency key replays the same posters.
func (s *Server) handlePosters(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	in := posterRequest{ProgramID: o.str("program_id"), Count: 1, Paper: strings.ToLower(o.str("paper")),
		Label: o.str("label"), CTA: o.str("cta")}
	if raw, _ := o.raw("count"); raw != nil {
		in.Count = o.int64("count")
	}
	idem := idempotency(r, o, "POST /v1/ambassadors/:id/posters", principalOf(r), struct {
		Ambassador string
		Request    posterRequest
	}{p.ByName("id"), in})
	fe := o.finish()
	// The placements' own rules check the program and the label (trimmed).
	pc := model.PlacementCreate{ProgramID: in.ProgramID, AmbassadorID: p.ByName("id"), Label: in.Label}
	problems := pc.Validate()
	if problems.Has("ambassador_id") {
		return model.NotFound(model.PrefixAmbassador, pc.AmbassadorID) // a malformed ID in the path
	}
	fe.Merge(problems)
	if !fe.Has("count") && (in.Count < 1 || in.Count > maxPosters) {
		fe.Add("count", model.FInvalidValue, "must be from 1 to %d", maxPosters)
	}
	if in.Paper == "" {
		in.Paper = "a4"
	} else if _, ok := poster.Papers[in.Paper]; !ok {
		fe.Add("paper", model.FInvalidValue, "must be a4 or letter")
	}
	// The call to action is text like the label, and follows its rules.
	if model.CheckText(&fe, "cta", &in.CTA, model.MaxLabelLen, false); in.CTA == "" {
		in.CTA = poster.DefaultCallToAction
	}
	if err := fe.Err(); err != nil {
		return err
	}
	amb, err := s.svc.Ambassadors.FindAmbassadorByID(r.Context(), pc.AmbassadorID)
	if err != nil {
		return err
	}
	prg, err := s.svc.Programs.FindProgramByID(r.Context(), pc.ProgramID)
	if model.ErrorCode(err) == model.ENotFound {
		return model.FieldNotFound("program_id", model.PrefixProgram, pc.ProgramID)
	} else if err != nil {
		return err
	}
	made, replayed, err := s.svc.Placements.CreatePlacements(r.Context(), pc, int(in.Count), idem)
	if err != nil {
		return err
	}
	posters := make([]poster.Poster, 0, len(made))
	for _, pl := range made {
		label := ""
		if pl.Label != nil {
			label = *pl.Label
		}
		posters = append(posters, poster.Poster{Program: prg.Name, CallToAction: in.CTA, Label: label, Code: pl.Code, ScanURL: s.withScanURL(pl).ScanURL})
	}
	var buf bytes.Buffer
	if err := poster.PDFPosters(&buf, in.Paper, posters); err != nil {
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
