package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/referrald/referrald/model"
)

// syncBuffer is a log sink a test reads after the console wrote to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var tokenInput = regexp.MustCompile(`id="token" class="token" type="text" value="([^"]+)"`)

// An owner makes a key and sees its token once, on the answer to the
// POST, which no cache keeps: not in a redirect, a cookie or a log, not
// on the list, and not again when the form is sent twice. The store
// keeps its hash, and the token works against the store.
func TestKeyCreate(t *testing.T) {
	var logs syncBuffer
	e := newTestEnv(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx := context.Background()

	res := e.get("/console/keys", e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "No API keys yet", `href="/console/keys/new"`)

	res = e.get("/console/keys/new", e.owner)
	wantStatus(t, res, http.StatusOK)
	formKey := regexp.MustCompile(`name="form_key" value="([^"]+)"`).FindStringSubmatch(res.Body)
	if formKey == nil {
		t.Fatalf("the key form has no form key:\n%s", res.Body)
	}
	wantBody(t, res, `value="read" checked`)

	res = e.post("/console/keys/new", e.owner, formOf("name", " ", "scope", "root", "form_key", formKey[1]))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Name is required", "Scope must be read, write or admin", `href="#f-name"`)

	form := formOf("name", "Signup page", "scope", "write", "form_key", formKey[1])
	res = e.post("/console/keys/new", e.owner, form)
	wantStatus(t, res, http.StatusOK)
	m := tokenInput.FindStringSubmatch(res.Body)
	if m == nil {
		t.Fatalf("the answer shows no token:\n%s", res.Body)
	}
	token := m[1]
	wantBody(t, res, "Copy the token now: this is the only time it is shown", "readonly", `data-copy="token"`, "Signup page")
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the token's page: Cache-Control %q, want no-store", cc)
	}
	if loc := res.location(); loc != "" {
		t.Errorf("the token's page redirects to %q", loc)
	}
	for _, c := range res.Cookies() {
		if strings.Contains(c.Value, token) || c.Name == flashCookie {
			t.Errorf("the token's page sets cookie %s", c.Name)
		}
	}

	k, err := e.st.AuthenticateToken(ctx, token)
	if err != nil || k.Name != "Signup page" || k.Scope != model.ScopeWrite {
		t.Fatalf("the token shown: got key %+v, %v", k, err)
	}
	// The store holds the token's hash, never the token.
	var db bytes.Buffer
	if _, err := e.st.Backup(ctx, &db, func(int64) {}); err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256([]byte(token))
	if bytes.Contains(db.Bytes(), []byte(token)) || !bytes.Contains(db.Bytes(), hash[:]) {
		t.Errorf("the store file: holds the token %v, holds its hash %v; want only the hash",
			bytes.Contains(db.Bytes(), []byte(token)), bytes.Contains(db.Bytes(), hash[:]))
	}

	// Sent again (a reload of the answer): no second key, no token.
	res = e.post("/console/keys/new", e.owner, form)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "This form was sent already")
	noBody(t, res, token)
	keys, err := e.st.FindAPIKeys(ctx, model.ListOptions{})
	if err != nil || len(keys.Data) != 1 {
		t.Fatalf("after the form was sent twice: %d keys, %v; want 1", len(keys.Data), err)
	}

	res = e.get("/console/keys", e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Signup page", `href="/console/keys/`+k.ID+`"`, "Active")
	noBody(t, res, token)
	res = e.get("/console/keys/"+k.ID, e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, k.ID, `href="/console/keys/`+k.ID+`/revoke"`, `href="/console/audit?subject=`+k.ID+`"`)
	noBody(t, res, token)

	if strings.Contains(logs.String(), token) {
		t.Errorf("the log holds the token:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "route=/console/keys/new") {
		t.Errorf("the log has no line for the key's POST:\n%s", logs.String())
	}
}

// Revoking asks first; then the token stops working, the list says so,
// and the audit log has both changes by the owner.
func TestKeyRevoke(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	res := e.post("/console/keys/new", e.owner, formOf("name", "CRM sync", "scope", "admin", "form_key", newFormKey()))
	wantStatus(t, res, http.StatusOK)
	token := tokenInput.FindStringSubmatch(res.Body)[1]
	k, err := e.st.AuthenticateToken(ctx, token)
	if err != nil {
		t.Fatal(err)
	}

	res = e.get("/console/keys/"+k.ID+"/revoke", e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Revoke CRM sync?", `action="/console/keys/`+k.ID+`/revoke"`, "cannot be brought back")
	if _, err := e.st.AuthenticateToken(ctx, token); err != nil {
		t.Fatalf("the confirmation page revoked the key: %v", err)
	}

	res = e.post("/console/keys/"+k.ID+"/revoke", e.owner, nil)
	wantStatus(t, res, http.StatusSeeOther)
	if res.location() != "/console/keys" {
		t.Errorf("revoked: redirected to %q", res.location())
	}
	page := e.follow(res, e.owner)
	wantBody(t, page, "CRM sync is revoked", "Revoked")
	if _, err := e.st.AuthenticateToken(ctx, token); model.ErrorCode(err) != model.EUnauthorized {
		t.Fatalf("the revoked key's token: got %v, want unauthorized", err)
	}
	res = e.get("/console/keys/"+k.ID, e.owner)
	noBody(t, res, "/revoke")
	// Asking to revoke it again says it is done.
	res = e.get("/console/keys/"+k.ID+"/revoke", e.owner)
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.owner), "already revoked")
	wantStatus(t, e.post("/console/keys/key_01m8yqk4a5mstqtdtptfpvmbxh/revoke", e.owner, nil), http.StatusNotFound)
	wantStatus(t, e.get("/console/keys/nonsense", e.owner), http.StatusNotFound)

	audit, err := e.st.FindAudit(ctx, model.AuditFilter{Subject: k.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit.Data {
		if a.Actor.ID != e.owner.ID || a.Actor.Kind != model.ActorUser {
			t.Errorf("%s by %+v, want by the owner", a.Action, a.Actor)
		}
		actions = append(actions, a.Action)
	}
	if strings.Join(actions, " ") != "api_key.revoked api_key.created" {
		t.Errorf("audit of the key: %v", actions)
	}
}

// Keys are the owner's: a manager cannot see them, a viewer cannot make
// one.
func TestKeysAreForOwners(t *testing.T) {
	e := newTestEnv(t)
	for _, path := range []string{"/console/keys", "/console/keys/new"} {
		wantStatus(t, e.get(path, e.manager), http.StatusForbidden)
	}
	for _, u := range []*testUser{e.viewer, e.manager} {
		res := e.post("/console/keys/new", u, formOf("name", "Mine", "scope", "admin", "form_key", newFormKey()))
		wantStatus(t, res, http.StatusForbidden)
		noBody(t, res, "rfd_")
	}
	if keys, _ := e.st.FindAPIKeys(context.Background(), model.ListOptions{}); len(keys.Data) != 0 {
		t.Fatalf("a refused form made %d keys", len(keys.Data))
	}
	// The nav shows the operations group to those who may use it.
	res := e.get("/console/", e.owner)
	wantBody(t, res, ">Operations<", `href="/console/keys"`, `href="/console/hooks"`, `href="/console/users"`, `href="/console/audit"`)
	res = e.get("/console/", e.manager)
	wantBody(t, res, ">Operations<", `href="/console/audit"`)
	noBody(t, res, `href="/console/keys"`, `href="/console/users"`)
	noBody(t, e.get("/console/", e.viewer), ">Operations<", `href="/console/audit"`)
}
