package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
)

// The audit log: who changed what, newest first, narrowed by who did it,
// which record it was done to and what was done. Managers and owners
// read it; a viewer, who changes nothing, has no need to watch those who
// do. Each entry links to its record's page where the console has one,
// and record pages link here with the "audit-link" partial.

// Bounds of the filters, the API's.
const (
	maxAuditSubjectLen = 128
)

// The filter form, read from the query.
var auditFields = []*field{
	{Name: "actor", Label: "Who", Hint: "A user’s email, or a user’s or API key’s ID.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxEmailLen), "spellcheck": "false"}},
	{Name: "subject", Label: "Record", Hint: "The ID of a program, an ambassador, a user or another record.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(maxAuditSubjectLen), "spellcheck": "false"}},
	{Name: "action", Label: "What", Hint: "Such as program.updated.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxAuditActionLen), "spellcheck": "false", "list": "audit-actions"}},
}

// auditActions are the actions the store records, offered as the action
// filter's suggestions; one missing here can still be typed.
var auditActions = []string{
	"program.created", "program.updated",
	"ambassador.created", "ambassador.updated",
	"placement.created", "placement.updated", "print_run.created",
	"referral.updated", "referral.erased",
	"earning.created", "earning.refunded",
	"commission.approved", "payout.created",
	"api_key.created", "api_key.revoked",
	"user.created", "user.updated", "user.sessions_ended",
	"hook.retried",
	"webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.deleted",
	"webhook_endpoint.secret_rotated", "webhook_endpoint.recovered",
}

// auditRow is one entry as the page shows it.
type auditRow struct {
	*model.AuditEntry
	// Who says what kind of actor made the change, in words.
	Who string
	// SubjectPath is the console page of the subject, or "" when it has
	// none (or none the reader may open).
	SubjectPath string
}

type auditView struct {
	Form    *form
	Actions []string
	Entries []auditRow
	// Filtered is set when a filter narrows the list.
	Filtered bool
	// First is set on the first page, Next links to the next one.
	First bool
	Next  string
}

// handleAuditList serves GET /console/audit?actor=&subject=&action=&cursor=.
func (s *Server) handleAuditList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := newForm(auditFields...).read(r)
	v := auditView{Form: f, Actions: auditActions, First: q.Get("cursor") == ""}
	filter, err := s.auditFilter(r.Context(), f)
	if err != nil {
		return err
	}
	if f.HasErrors() {
		return s.renderForm(w, r, "audit", v)
	}
	v.Filtered = filter.ActorID != "" || filter.Subject != "" || filter.Action != ""
	filter.ListOptions = model.ListOptions{Limit: 50, Cursor: q.Get("cursor")}
	page, err := s.svc.Audit.FindAudit(r.Context(), filter)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		filter.Cursor, v.First = "", true
		page, err = s.svc.Audit.FindAudit(r.Context(), filter)
	}
	if err != nil {
		return err
	}
	owner := userOf(r).Role.Allows(model.RoleOwner)
	for _, e := range page.Data {
		v.Entries = append(v.Entries, auditRow{AuditEntry: e, Who: actorKind(e.Actor.Kind), SubjectPath: subjectPath(e, owner)})
	}
	if page.HasMore && page.NextCursor != nil {
		next := url.Values{}
		for _, name := range []string{"actor", "subject", "action"} {
			if val := f.Get(name); val != "" {
				next.Set(name, val)
			}
		}
		next.Set("cursor", *page.NextCursor)
		v.Next = "/console/audit?" + next.Encode()
	}
	return s.render(w, r, http.StatusOK, "audit", v)
}

// auditFilter reads the filter form into a filter, recording on the
// form what it cannot read.
func (s *Server) auditFilter(ctx context.Context, f *form) (model.AuditFilter, error) {
	var filter model.AuditFilter
	for _, name := range []string{"actor", "subject", "action"} {
		f.Set(name, strings.TrimSpace(f.Get(name)))
	}
	switch actor := f.Get("actor"); {
	case actor == "":
	case len(actor) > model.MaxEmailLen:
		f.AddError("actor", "must be at most "+strconv.Itoa(model.MaxEmailLen)+" characters")
	case strings.Contains(actor, "@"):
		u, err := s.userByEmail(ctx, actor)
		if err != nil {
			return filter, err
		}
		if u == nil {
			f.AddError("actor", "is no console user’s email")
			break
		}
		filter.ActorID = u.ID
	default:
		if filter.ActorID = model.CanonicalID(strings.ToLower(actor), model.PrefixUser, model.PrefixAPIKey); filter.ActorID == "" {
			f.AddError("actor", "must be a user’s email, or a user’s ID (usr_…) or an API key’s (key_…)")
		}
	}
	switch subject := f.Get("subject"); {
	case len(subject) > maxAuditSubjectLen:
		f.AddError("subject", "must be at most "+strconv.Itoa(maxAuditSubjectLen)+" characters")
	case subject != "":
		// Record IDs are stored in lower case, however they are typed;
		// anything else (a plugin's name) is compared as given.
		filter.Subject = subject
		if prefix, _, ok := strings.Cut(strings.ToLower(subject), "_"); ok {
			if id := model.CanonicalID(strings.ToLower(subject), prefix); id != "" {
				filter.Subject = id
			}
		}
	}
	if filter.Action = f.Get("action"); filter.Action != "" && !model.ValidAuditAction(filter.Action) {
		f.AddError("action", "must be a kind of record and what happened to it, such as program.updated")
	}
	return filter, nil
}

// maxUserPages bounds the walk through the users for an email: console
// users are a team, not a crowd.
const maxUserPages = 20

// userByEmail finds the console user whose email is email, ignoring
// case, or returns nil.
func (s *Server) userByEmail(ctx context.Context, email string) (*model.User, error) {
	key := model.EmailKey(email)
	opt := model.ListOptions{Limit: model.MaxListLimit}
	for range maxUserPages {
		page, err := s.svc.Users.FindUsers(ctx, opt)
		if err != nil {
			return nil, err
		}
		for _, u := range page.Data {
			if model.EmailKey(u.Email) == key {
				return u, nil
			}
		}
		if !page.HasMore || page.NextCursor == nil {
			break
		}
		opt.Cursor = *page.NextCursor
	}
	return nil, nil
}

// actorKind says what kind of actor kind is.
func actorKind(kind string) string {
	switch kind {
	case model.ActorUser:
		return "User"
	case model.ActorAPIKey:
		return "API key"
	case model.ActorAdminToken:
		return "Admin token"
	case model.ActorCLI:
		return "Command line"
	case model.ActorAmbassador:
		return "Ambassador (portal)"
	}
	return kind
}

// recordPages are the console's pages of a record, by its ID's prefix;
// ownerPages are those only owners may open.
var (
	recordPages = map[string]string{
		model.PrefixProgram:    "/console/programs/",
		model.PrefixAmbassador: "/console/ambassadors/",
		model.PrefixReferral:   "/console/referrals/",
		model.PrefixPayout:     "/console/money/payouts/",
		model.PrefixPrintRun:   "/console/print-runs/",
	}
	ownerPages = map[string]string{
		model.PrefixUser:            "/console/users/",
		model.PrefixAPIKey:          "/console/keys/",
		model.PrefixWebhookEndpoint: "/console/webhooks/",
	}
)

// subjectPath is the console page of e's subject, if it has one that a
// reader who is an owner, or not, may open; else "".
func subjectPath(e *model.AuditEntry, owner bool) string {
	if strings.HasPrefix(e.Action, "hook.") {
		// A hook entry's subject is the plugin's name, or a webhook
		// endpoint's consumer name (model.WebhookConsumer) when a failed
		// message of one was sent again.
		if id, ok := strings.CutPrefix(e.Subject, model.WebhookConsumer("")); ok {
			if owner && model.CanonicalID(id, model.PrefixWebhookEndpoint) != "" {
				return "/console/webhooks/" + id
			}
			return ""
		}
		if owner {
			return "/console/hooks/" + url.PathEscape(e.Subject)
		}
		return ""
	}
	prefix, _, _ := strings.Cut(e.Subject, "_")
	if model.CanonicalID(e.Subject, prefix) == "" {
		return ""
	}
	if p, ok := recordPages[prefix]; ok {
		return p + e.Subject
	}
	if p, ok := ownerPages[prefix]; ok && owner {
		return p + e.Subject
	}
	return ""
}
