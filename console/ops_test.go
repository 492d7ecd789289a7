package console

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

// opsSamples are views of the operations pages (keys, hooks, users, the
// audit log), for samplePages.
func opsSamples() map[string]any {
	now := model.NewTime(time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC))
	key := &model.APIKey{ID: "key_01m8yqk4a5mstqtdtptfpvmbxh", Name: "Signup page", Scope: model.ScopeWrite, CreatedAt: now}
	revoked := &model.APIKey{ID: "key_01m8yqk4a5mstqtdtptfpvmbxj", Name: "Old CRM sync", Scope: model.ScopeAdmin, CreatedAt: now, RevokedAt: &now}
	badKey := newForm(keyFields...)
	badKey.Set("scope", "read")
	badKey.AddError("name", "is required")
	plugin := model.HookPlugin{Name: "crmsync", Version: "1.2.0", Running: true, Events: []string{"referral.created", "referral.erased"},
		Policy: "fail_open", Restarts: 2, Cursor: "evt_01m8yqk4a5mstqtdtptfpvmbxh", Backlog: 3, OldestPendingAt: &now}
	refused := model.HookPlugin{Name: "commission", Refused: true, Events: []string{}, BeforeReferralCreate: true, Policy: "fail_closed", CheckPausedUntil: &now}
	dead := []*model.DeadLetter{{Plugin: "crmsync", EventID: "evt_01m8yqk4a5mstqtdtptfpvmbxj", EventType: model.EventReferralCreated, Attempts: 10,
		LastError: "POST https://crm.example/contacts: 503 Service Unavailable", FailedAt: now}}
	owner := &model.User{ID: "usr_01m8yqk4a5mstqtdtptfpvmbxh", Email: "owner@uni.example", Role: model.RoleOwner, LastSignInAt: &now, CreatedAt: now}
	left := &model.User{ID: "usr_01m8yqk4a5mstqtdtptfpvmbxj", Email: "left@uni.example", Role: model.RoleViewer, DisabledAt: &now, CreatedAt: now}
	user := userView{User: left, Roles: roles, Role: newForm(userRoleFields...), Password: newForm(userPasswordFields...),
		Problem: "left@uni.example is the last enabled owner."}
	user.Role.Set("role", string(left.Role))
	user.Password.AddError("password", "must be at least 12 characters")
	badUser := newForm(userFields...)
	badUser.Set("role", "manager")
	badUser.AddError("email", "belongs to a console user already")
	audit := newForm(auditFields...)
	audit.Set("action", "program.updated")
	entries := []auditRow{
		{AuditEntry: &model.AuditEntry{ID: "aud_1", Actor: model.Actor{Kind: model.ActorUser, ID: owner.ID, Label: owner.Email}, Action: "program.updated",
			Subject: "prg_01m8yqk4a5mstqtdtptfpvmbxh", Summary: "changed hold_days 30 → 14", CreatedAt: now}, Who: "User", SubjectPath: "/console/programs/prg_01m8yqk4a5mstqtdtptfpvmbxh"},
		{AuditEntry: &model.AuditEntry{ID: "aud_2", Actor: model.Actor{Kind: model.ActorCLI, Label: "referrald users create"}, Action: "user.created",
			Subject: owner.ID, Summary: "role owner", CreatedAt: now}, Who: "Command line"},
	}
	return map[string]any{
		"keys":        keyListView{Keys: []*model.APIKey{key, revoked}, Next: "/console/keys?cursor=key_01m8yqk4a5mstqtdtptfpvmbxj"},
		"key_form":    keyFormView{Form: badKey, Scopes: keyScopes},
		"key_created": keyCreatedView{Key: key, Token: "rfd_sampletokensampletokensampletokensampletok"},
		"key":         keyView{Key: key},
		"ops_confirm": confirmView{Title: "Revoke Signup page?", Lines: []string{"Requests with its token are refused."}, Action: "/console/keys/" + key.ID + "/revoke",
			Fields: map[string]string{"confirm": "yes"}, Button: "Revoke the key", Danger: true, Back: "/console/keys/" + key.ID},
		"hooks": hookListView{Configured: true, Docs: hooksDocs, Plugins: []hookPluginView{{HookPlugin: plugin, Dead: dead, MoreDead: true},
			{HookPlugin: refused}}},
		"hook":      hookView{Plugin: plugin, Dead: dead, First: true, Next: "/console/hooks/crmsync?cursor=" + dead[0].EventID},
		"users":     userListView{Users: []*model.User{owner, left}, Me: owner.ID},
		"user_form": userFormView{Form: badUser, Roles: roles},
		"user":      user,
		"audit":     auditView{Form: audit, Actions: auditActions, Entries: entries, Filtered: true, First: true, Next: "/console/audit?cursor=aud_2"},
	}
}

// An entry links to its subject's page where the console has one that
// the reader may open: users, keys and plugins only for owners.
func TestSubjectPath(t *testing.T) {
	for _, c := range []struct {
		action, subject string
		owner           bool
		want            string
	}{
		{"program.updated", "prg_01m8yqk4a5mstqtdtptfpvmbxh", false, "/console/programs/prg_01m8yqk4a5mstqtdtptfpvmbxh"},
		{"ambassador.created", "amb_01m8yqk4a5mstqtdtptfpvmbxh", false, "/console/ambassadors/amb_01m8yqk4a5mstqtdtptfpvmbxh"},
		{"referral.updated", "ref_01m8yqk4a5mstqtdtptfpvmbxh", false, "/console/referrals/ref_01m8yqk4a5mstqtdtptfpvmbxh"},
		{"payout.created", "pay_01m8yqk4a5mstqtdtptfpvmbxh", false, "/console/money/payouts/pay_01m8yqk4a5mstqtdtptfpvmbxh"},
		{"commission.approved", "com_01m8yqk4a5mstqtdtptfpvmbxh", true, ""},
		{"user.updated", "usr_01m8yqk4a5mstqtdtptfpvmbxh", true, "/console/users/usr_01m8yqk4a5mstqtdtptfpvmbxh"},
		{"user.updated", "usr_01m8yqk4a5mstqtdtptfpvmbxh", false, ""},
		{"api_key.created", "key_01m8yqk4a5mstqtdtptfpvmbxh", true, "/console/keys/key_01m8yqk4a5mstqtdtptfpvmbxh"},
		{"api_key.created", "key_01m8yqk4a5mstqtdtptfpvmbxh", false, ""},
		{"hook.retried", "crmsync", true, "/console/hooks/crmsync"},
		{"hook.retried", "crmsync", false, ""},
		{"program.updated", "prg_not-an-id", true, ""},
	} {
		e := &model.AuditEntry{Action: c.action, Subject: c.subject}
		if got := subjectPath(e, c.owner); got != c.want {
			t.Errorf("%s %s (owner %v): got %q, want %q", c.action, c.subject, c.owner, got, c.want)
		}
	}
}

// Every page an audit entry links to is a page the console serves, not
// its catch-all "not found".
func TestSubjectPagesAreRoutes(t *testing.T) {
	s := New(Services{}, Config{})
	for _, pages := range []map[string]string{recordPages, ownerPages} {
		for prefix, path := range pages {
			r := httptest.NewRequest("GET", path+prefix+"_01m8yqk4a5mstqtdtptfpvmbxh", nil)
			if _, pattern := s.mux.Handler(r); pattern == "" || pattern == "/console/" {
				t.Errorf("%s links to %s, which no route serves", prefix, path)
			}
		}
	}
}

// formOnce tells a form sent again from a new one for an hour, and
// stays bounded however many forms are sent.
func TestFormOnce(t *testing.T) {
	var o formOnce
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	if !o.take("a", now) {
		t.Fatal("a new form: got taken already")
	}
	if o.take("a", now.Add(time.Minute)) {
		t.Fatal("the same form again: got new")
	}
	if !o.take("a", now.Add(formOnceTTL)) {
		t.Fatal("the same form an hour later: got taken already")
	}
	o.forget("a")
	if !o.take("a", now.Add(formOnceTTL)) {
		t.Fatal("a forgotten form: got taken already")
	}
	for i := range 3 * formOnceMax {
		o.take(time.Duration(i).String(), now.Add(time.Duration(i)))
	}
	if n := len(o.seen); n > formOnceMax {
		t.Fatalf("holds %d forms, want at most %d", n, formOnceMax)
	}
}
