package browsertest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/mail/smtptest"
)

// An ambassador added with email configured gets a "you're in" message
// and, later, asks for a sign-in link on the portal; each message's link,
// followed in the browser, lands on their portal signed in.
func TestEmailLinksSignInToThePortal(t *testing.T) {
	smtp := smtptest.Start(t)
	srv := startServer(t, withEnv("REFERRALD_EMAIL_SMTP_HOST="+smtp.Host(), fmt.Sprintf("REFERRALD_EMAIL_SMTP_PORT=%d", smtp.Port()),
		"REFERRALD_EMAIL_SMTP_TLS=none", "REFERRALD_EMAIL_SMTP_FROM=Spring Ambassadors <ambassadors@uni.example>"))
	srv.api(t, 201, "POST", "/v1/ambassadors", `{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@uni.example"}`)

	// The links carry the listen address as configured (port 0 here):
	// open their path on the real one.
	follow := func(b *browser, m *smtptest.Message) {
		t.Helper()
		link := smtptest.SigninLink(m.HTML)
		_, token, ok := strings.Cut(link, "/portal/signin?token=")
		if !ok {
			t.Fatalf("no sign-in link in %q:\n%s", m.Subject, m.HTML)
		}
		if status := b.open(srv.URL + "/portal/signin?token=" + token); status != http.StatusOK {
			t.Fatalf("following the link of %q: got %d at %s", m.Subject, status, b.location())
		}
		if loc, got := b.location(), b.text("h1"); loc != srv.URL+"/portal/" || got != "Hi Ada" {
			t.Fatalf("the link of %q landed on %s saying %q", m.Subject, loc, got)
		}
	}
	welcome := smtp.Wait(t, 1, 30*time.Second)[0]
	if welcome.To[0] != "ada@uni.example" {
		t.Fatalf("the welcome went to %v", welcome.To)
	}
	follow(newBrowser(t), welcome)

	b := newBrowser(t)
	b.open(srv.URL + "/portal/login")
	b.fill("#f-email", "Ada@Uni.example")
	if status := b.submit("form[action='/portal/login'] button[type=submit]"); status != http.StatusOK {
		t.Fatalf("ask for a link: got %d", status)
	}
	signin := smtp.Wait(t, 2, 30*time.Second)[1]
	if signin.To[0] != "ada@uni.example" || signin.Subject == welcome.Subject {
		t.Fatalf("second message to %v, subject %q", signin.To, signin.Subject)
	}
	follow(b, signin)
	b.screenshot("portal-home-from-email")
}
