package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// Poster designs: how a program's posters look and read, its logo, and
// a preview of a page of them. Every poster printed through the API
// carries its program's design (placement.go).

// designs is the service of poster designs, or not_found when this
// server keeps none.
func (s *Server) designs() (model.PosterDesignService, error) {
	if s.svc.Designs == nil {
		return nil, model.Errorf(model.ENotFound, "poster designs are not kept here")
	}
	return s.svc.Designs, nil
}

// designOf is the design a program's posters print with, and its logo
// (nil without one). A server that keeps no designs prints the defaults.
func (s *Server) designOf(ctx context.Context, programID string) (*model.PosterDesign, []byte, error) {
	if s.svc.Designs == nil {
		return model.DefaultPosterDesign(programID), nil, nil
	}
	d, err := s.svc.Designs.FindPosterDesign(ctx, programID)
	if err != nil {
		return nil, nil, err
	}
	logo, err := s.logoOf(ctx, d)
	return d, logo, err
}

// logoOf is the logo of design d, nil without one.
func (s *Server) logoOf(ctx context.Context, d *model.PosterDesign) ([]byte, error) {
	if d.Logo == nil || s.svc.Designs == nil {
		return nil, nil
	}
	logo, err := s.svc.Designs.FindPosterLogo(ctx, d.ProgramID)
	if model.ErrorCode(err) == model.ENotFound {
		return nil, nil // removed since the design was read: print without it
	}
	return logo, err
}

// handlePosterDesignGet serves GET /v1/programs/:id/poster_design.
func (s *Server) handlePosterDesignGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	designs, err := s.designs()
	if err != nil {
		return err
	}
	d, err := designs.FindPosterDesign(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// setting reads a true/false field; nil when absent. Null is refused: a
// setting is on or off.
func setting(o *object, name string) *bool {
	raw, given := o.raw(name)
	if !given {
		return nil
	}
	var b bool
	if raw == nil || json.Unmarshal(raw, &b) != nil {
		o.typeError(name, "true or false")
		return nil
	}
	return &b
}

// handlePosterDesignUpdate serves PATCH /v1/programs/:id/poster_design:
// the fields given change, the others stay.
func (s *Server) handlePosterDesignUpdate(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	designs, err := s.designs()
	if err != nil {
		return err
	}
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var u model.PosterDesignUpdate
	u.AccentColor = o.strPtr("accent_color")
	u.Headline = o.strPtr("headline")
	u.Incentive = o.strPtr("incentive")
	u.CallToAction = o.strPtr("call_to_action")
	u.ShowAmbassadorName = setting(o, "show_ambassador_name")
	u.LogoInQR = setting(o, "logo_in_qr")
	u.SignupConsent = o.strPtr("signup_consent")
	u.SignupRedirectURL = o.strPtr("signup_redirect_url")
	fe := o.finish()
	fe.Merge(u.Validate())
	ctx, id := r.Context(), p.ByName("id")
	d, err := designs.FindPosterDesign(ctx, id)
	if err != nil {
		return err
	}
	u.CheckLogoInQR(&fe, d.Logo != nil)
	if err := fe.Err(); err != nil {
		return err
	}
	if reflect.DeepEqual(u, model.PosterDesignUpdate{}) {
		writeJSON(w, http.StatusOK, d) // nothing to change, nothing to audit
		return nil
	}
	if d, err = designs.UpdatePosterDesign(ctx, id, u); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// Logo media types: the one request body of this API that is not JSON.
var logoTypes = map[string]bool{"image/png": true, "image/jpeg": true}

// handlePosterLogoPut serves PUT /v1/programs/:id/poster_design/logo:
// the body is the image itself, image/png or image/jpeg, of at most
// poster.MaxLogoBytes. It is kept as a PNG of its pixels alone (no
// metadata, no colour profile), and the design is the answer.
func (s *Server) handlePosterLogoPut(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	designs, err := s.designs()
	if err != nil {
		return err
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !logoTypes[mt] {
		return model.Errorf(model.EUnsupportedMedia, "the body must be the logo itself, as image/png or image/jpeg")
	}
	tooLarge := model.Errorf(model.EBodyTooLarge, "the logo must be at most %d bytes", poster.MaxLogoBytes)
	if r.ContentLength > poster.MaxLogoBytes {
		return tooLarge
	}
	ctx, id := r.Context(), p.ByName("id")
	if _, err := designs.FindPosterDesign(ctx, id); err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, poster.MaxLogoBytes))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return tooLarge
	} else if err != nil {
		return model.Errorf(model.EInvalidJSON, "the body could not be read")
	}
	logo, err := poster.NormalizeLogo(data)
	if msg := poster.LogoProblem(err); msg != "" {
		var fe model.FieldErrors
		fe.Add("logo", model.FInvalidValue, "%s", msg)
		return fe.Err()
	} else if err != nil {
		return err
	}
	width, height, err := poster.LogoSize(logo)
	if err != nil {
		return err
	}
	d, err := designs.SetPosterLogo(ctx, id, logo, width, height)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// logoCacheControl lets a client keep a logo a few minutes; its tag
// tells a changed one apart after that.
const logoCacheControl = "private, max-age=300"

// handlePosterLogoGet serves GET /v1/programs/:id/poster_design/logo: the
// logo as it is kept, a PNG.
func (s *Server) handlePosterLogoGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	designs, err := s.designs()
	if err != nil {
		return err
	}
	logo, err := designs.FindPosterLogo(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	return poster.ServePNG(w, r, poster.LogoTag(logo), logoCacheControl, func(w io.Writer) error {
		_, err := w.Write(logo)
		return err
	})
}

// handlePosterLogoDelete serves DELETE /v1/programs/:id/poster_design/logo;
// the design, which no longer puts a logo in the QR codes either, is the
// answer.
func (s *Server) handlePosterLogoDelete(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	designs, err := s.designs()
	if err != nil {
		return err
	}
	d, err := designs.DeletePosterLogo(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// previewCacheControl lets a client keep a preview but ask, with its
// tag, before each use: a design can change at any moment.
const previewCacheControl = "private, no-cache"

// handlePosterPreview serves GET
// /v1/programs/:id/poster_preview.png?layout=&paper=&width=: the first
// page of layout with the program's design, on sample posters. Its tag
// is known before anything is drawn, so asking again is a cheap 304.
func (s *Server) handlePosterPreview(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	q := newQuery(r)
	layout, paper, width := readPreviewQuery(q)
	if err := q.finish(); err != nil {
		return err
	}
	ctx, id := r.Context(), p.ByName("id")
	prg, err := s.svc.Programs.FindProgramByID(ctx, id)
	if err != nil {
		return err
	}
	d := model.DefaultPosterDesign(prg.ID)
	if s.svc.Designs != nil {
		if d, err = s.svc.Designs.FindPosterDesign(ctx, prg.ID); err != nil {
			return err
		}
	}
	pr := poster.Preview(prg, d, nil, s.scanBase, layout, paper)
	return poster.ServePNG(w, r, pr.PreviewTag(width), previewCacheControl, func(w io.Writer) error {
		if pr.Logo, err = s.logoOf(ctx, d); err != nil {
			return err
		}
		return poster.PreviewPNG(w, pr.Job(), width)
	})
}

// readPreviewQuery reads a preview's layout, paper and width, recording
// what is wrong with them on q.
func readPreviewQuery(q *query) (poster.Layout, string, int) {
	layout := poster.Layout(strings.ToLower(q.str("layout")))
	if layout == "" {
		layout = poster.LayoutPoster
	} else if !layout.Valid() {
		q.errs.Add("layout", model.FInvalidValue, "must be one of %s", poster.LayoutNames())
	}
	paper := strings.ToLower(q.str("paper"))
	if paper == "" {
		paper = "a4"
	} else if _, ok := poster.Papers[paper]; !ok {
		q.errs.Add("paper", model.FInvalidValue, "must be a4 or letter")
	}
	width := poster.PreviewDefaultWidth
	if v := q.str("width"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < poster.MinPreviewWidth || n > poster.MaxPreviewWidth {
			q.errs.Add("width", model.FInvalidValue, "must be an integer from %d to %d", poster.MinPreviewWidth, poster.MaxPreviewWidth)
		} else {
			width = n
		}
	}
	return layout, paper, width
}
