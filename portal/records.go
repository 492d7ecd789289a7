package portal

import (
	"context"
	"net/http"
	"net/url"

	"github.com/referrald/referrald/model"
)

// Reading an ambassador's own records. A record asked for by ID is shown
// only to its own ambassador: another's, one that does not exist and a
// malformed ID all answer the same 404 page, so an ambassador cannot even
// learn which IDs exist.

// maxIDLen bounds an ID or a cursor taken from a URL before any lookup.
const maxIDLen = 64

// pageSize is how many records a list shows at a time.
const pageSize = 20

// errNotFound is the not_found every record that is not the ambassador's
// answers with.
func errNotFound() error { return model.Errorf(model.ENotFound, "") }

// lookup turns a find-by-ID's error into what the page answers: a
// missing record and a malformed ID are not_found; anything else stays.
func lookup(err error) error {
	switch model.ErrorCode(err) {
	case model.ENotFound, model.EValidation:
		return errNotFound()
	}
	return err
}

// pathID is the {id} of the request's path, or not_found when it cannot
// be an ID.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > maxIDLen {
		return "", errNotFound()
	}
	return id, nil
}

// listOptions are a list page's paging: the first page, or the one after
// the cursor in ?after=.
func listOptions(r *http.Request) (model.ListOptions, error) {
	after := r.URL.Query().Get("after")
	if len(after) > maxIDLen {
		return model.ListOptions{}, model.Errorf(model.EValidation, "the page asked for does not exist")
	}
	return model.ListOptions{Limit: pageSize, Cursor: after}, nil
}

// nextLink is the link to the list's next page, or "" on its last.
func nextLink[T any](path string, p model.Page[T]) string {
	if !p.HasMore || p.NextCursor == nil {
		return ""
	}
	return path + "?after=" + url.QueryEscape(*p.NextCursor)
}

// myPlacement is the signed-in ambassador's placement {id}.
func (s *Server) myPlacement(r *http.Request) (*model.Placement, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	p, err := s.svc.Placements.FindPlacementByID(r.Context(), id)
	if err != nil {
		return nil, lookup(err)
	}
	if p.AmbassadorID != ambOf(r).ID {
		return nil, errNotFound()
	}
	return p, nil
}

// myReferral is the signed-in ambassador's referral id.
func (s *Server) myReferral(r *http.Request, id string) (*model.Referral, error) {
	ref, err := s.svc.Referrals.FindReferralByID(r.Context(), id)
	if err != nil {
		return nil, lookup(err)
	}
	if ref.AmbassadorID != ambOf(r).ID {
		return nil, errNotFound()
	}
	return ref, nil
}

// myCommission is the signed-in ambassador's commission {id}.
func (s *Server) myCommission(r *http.Request) (*model.Commission, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	c, err := s.svc.Earnings.FindCommissionByID(r.Context(), id)
	if err != nil {
		return nil, lookup(err)
	}
	if c.AmbassadorID != ambOf(r).ID {
		return nil, errNotFound()
	}
	return c, nil
}

// myPayout is the signed-in ambassador's payout {id}.
func (s *Server) myPayout(r *http.Request) (*model.PayoutDetail, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	p, err := s.svc.Earnings.FindPayoutByID(r.Context(), id)
	if err != nil {
		return nil, lookup(err)
	}
	if p.AmbassadorID != ambOf(r).ID {
		return nil, errNotFound()
	}
	return p, nil
}

// names finds the names of programs and posters for one page, each read
// once however many rows show it.
type names struct {
	s          *Server
	ctx        context.Context
	programs   map[string]string
	placements map[string]*model.Placement
}

func (s *Server) names(ctx context.Context) *names {
	return &names{s: s, ctx: ctx, programs: map[string]string{}, placements: map[string]*model.Placement{}}
}

// program is the name of program id; one since deleted is "a program".
func (n *names) program(id string) (string, error) {
	if name, ok := n.programs[id]; ok {
		return name, nil
	}
	p, err := n.s.svc.Programs.FindProgramByID(n.ctx, id)
	name := ""
	switch model.ErrorCode(err) {
	case "":
		name = p.Name
	case model.ENotFound:
		name = "A program"
	default:
		return "", err
	}
	n.programs[id] = name
	return name, nil
}

// placement is the placement id, or nil when there is none (a signup
// without a poster) or it is gone.
func (n *names) placement(id *string) (*model.Placement, error) {
	if id == nil {
		return nil, nil
	}
	if p, ok := n.placements[*id]; ok {
		return p, nil
	}
	p, err := n.s.svc.Placements.FindPlacementByID(n.ctx, *id)
	if model.ErrorCode(err) == model.ENotFound {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	n.placements[*id] = p
	return p, nil
}

// posterName is how a page names a poster: its label, or its code.
func posterName(p *model.Placement) string {
	if p == nil {
		return "No poster"
	}
	if p.Label != nil && *p.Label != "" {
		return *p.Label
	}
	return "Poster " + p.Code
}
