package api

import (
	"context"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
)

// decodeReferralCreate reads and validates the body of POST /v1/referrals,
// reporting every problem of the request together. The returned
// Idempotency is zero when no key was sent. The impression's existence is
// checked by the caller, which has the store.
func decodeReferralCreate(r *http.Request, o *object) (model.ReferralCreate, model.Idempotency, model.FieldErrors) {
	var in model.ReferralCreate
	in.ImpressionID = o.str("impression_id")
	in.FirstName = o.str("first_name")
	in.LastName = o.str("last_name")
	in.Email = o.str("email")
	in.ProfilePictureURL = o.str("profile_picture_url")
	in.Metadata = o.metadata("metadata")
	idem := idempotency(r, o, "POST /v1/referrals", principalOf(r), in)
	fe := o.finish()
	fe.Merge(in.Validate())
	return in, idem, fe
}

// handleReferralCreate serves POST /v1/referrals.
func (s *Server) handleReferralCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	in, idem, fe := decodeReferralCreate(r, o)
	var imp *model.Impression
	if !fe.Has("impression_id") {
		// Checked here too, not only in the write, so that an unknown
		// impression is reported with the request's other problems.
		var err error
		if imp, err = s.svc.Impressions.FindImpressionByID(r.Context(), in.ImpressionID); model.ErrorCode(err) == model.ENotFound {
			fe.Add("impression_id", model.FNotFound, "impression %s does not exist", in.ImpressionID)
		} else if err != nil {
			return err
		}
	}
	if err := fe.Err(); err != nil {
		return err
	}
	ref, replayed, err := s.signups.Create(r.Context(), in, imp, idem)
	if err != nil {
		return err
	}
	return s.writeCreated(w, r, "/v1/referrals/"+ref.ID, ref, replayed)
}

// Signups creates referrals by the rules of POST /v1/referrals, for every
// place that signs people up: the API and the hosted signup page. The
// hook plugins vet a signup first, once per idempotency key; the store
// then gathers the fraud facts (self-referral, reused scan, duplicate or
// disposable email, a signup too soon after the scan), applies the
// program's fraud policy and writes the referral with its event, which
// the plugins and webhooks hear of; a new referral is counted.
type Signups struct {
	Referrals model.ReferralService
	// Checker, when set, vets each new referral (hook plugins).
	Checker model.ReferralChecker
	// Metrics, when set, counts new referrals.
	Metrics *metrics.Metrics
	// checking holds the idempotency keys of creates that are with the
	// hook plugins.
	checking inflight
}

// Create creates the referral in, a valid signup from imp (found by its
// ID), or returns the one an earlier request with idem made and true.
// Errors: those of the plugins (model.ReferralChecker) and of
// model.ReferralService's CreateReferral.
func (sg *Signups) Create(ctx context.Context, in model.ReferralCreate, imp *model.Impression, idem model.Idempotency) (*model.Referral, bool, error) {
	if sg.Checker != nil {
		release, err := sg.checking.acquire(ctx, idem)
		if err != nil {
			return nil, false, err
		}
		defer release()
		// A replay answers from the first request's record and asks no
		// plugin again.
		if prev, err := sg.Referrals.FindReplayedReferral(ctx, idem); err != nil || prev != nil {
			return prev, prev != nil, err
		}
		verdict, err := sg.Checker.CheckReferral(ctx, in, imp)
		if err != nil {
			return nil, false, err
		}
		verdict.Apply(&in)
	}
	ref, replayed, err := sg.Referrals.CreateReferral(ctx, in, idem)
	if err != nil {
		return nil, false, err
	}
	if !replayed {
		sg.Metrics.ReferralCreated()
	}
	return ref, replayed, nil
}

// handleReferralGet serves GET /v1/referrals/:id.
func (s *Server) handleReferralGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	ref, err := s.svc.Referrals.FindReferralByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ref)
	return nil
}

// handleReferralList serves GET /v1/referrals?program_id=&ambassador_id=
// &placement_id=&status=&email=&flagged=&from=&to=.
func (s *Server) handleReferralList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	q := newQuery(r)
	f := referralFilter(q)
	f.ListOptions = q.list(model.PrefixReferral)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := s.svc.Referrals.FindReferrals(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// referralFilter reads the filters of the referral list and export.
func referralFilter(q *query) model.ReferralFilter {
	var f model.ReferralFilter
	f.ProgramID = q.id("program_id", model.PrefixProgram)
	f.AmbassadorID = q.id("ambassador_id", model.PrefixAmbassador)
	f.Status = model.ReferralStatus(q.str("status"))
	if f.Status != "" && !f.Status.Valid() {
		q.errs.Add("status", model.FInvalidValue, "must be pending, converted or rejected")
	}
	f.Email = q.str("email")
	if len(f.Email) > model.MaxEmailLen {
		q.errs.Add("email", model.FTooLong, "must be at most %d characters", model.MaxEmailLen)
	}
	f.PlacementID = q.id("placement_id", model.PrefixPlacement)
	switch q.str("flagged") {
	case "", "false":
	case "true":
		f.Flagged = true
	default:
		q.errs.Add("flagged", model.FInvalidValue, "must be true or false")
	}
	f.From, f.To = q.time("from"), q.time("to")
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To.Time) {
		q.errs.Add("to", model.FInvalidValue, "must be after from")
	}
	return f
}

// handleReferralUpdate serves PATCH /v1/referrals/:id: a status change
// (pending → converted or rejected) and/or new metadata.
func (s *Server) handleReferralUpdate(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var u model.ReferralUpdate
	if st := o.strPtr("status"); st != nil {
		u.Status = (*model.ReferralStatus)(st)
	}
	u.Metadata = o.metadataPtr("metadata")
	fe := o.finish()
	fe.Merge(u.Validate())
	if err := fe.Err(); err != nil {
		return err
	}
	ref, err := s.svc.Referrals.UpdateReferral(r.Context(), p.ByName("id"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ref)
	return nil
}

// handleReferralErase serves DELETE /v1/referrals/:id: erases the
// person's data and answers with the anonymised tombstone that keeps
// counts and commissions adding up.
func (s *Server) handleReferralErase(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	ref, err := s.svc.Referrals.EraseReferral(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ref)
	return nil
}
