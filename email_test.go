package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/referrald/referrald/mail/smtptest"
)

// The bar: with an SMTP server configured, adding an ambassador sends one
// "you're in" message, and killing referrald before it could send (the
// server is down) still delivers it after the restart. Its link signs the
// ambassador in to the portal, once.
func TestWelcomeEmailSurvivesAKill(t *testing.T) {
	addr := smtptest.FreeAddr(t)
	host, port, _ := strings.Cut(addr, ":")
	env := []string{"REFERRALD_EMAIL_SMTP_HOST=" + host, "REFERRALD_EMAIL_SMTP_PORT=" + port, "REFERRALD_EMAIL_SMTP_TLS=none",
		"REFERRALD_EMAIL_SMTP_FROM=Spring Ambassadors <ambassadors@uni.example>"}
	dataDir := t.TempDir()
	srv := startServer(t, dataDir, env...)
	mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@uni.example"})
	// Nothing listens on the SMTP address yet: the message waits in the
	// store while the mailer retries.
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.done

	smtp := smtptest.StartAt(t, addr)
	srv = startServer(t, dataDir, env...)
	msgs := smtp.Wait(t, 1, 60*time.Second)
	m := msgs[0]
	if len(m.To) != 1 || m.To[0] != "ada@uni.example" || !strings.Contains(m.Subject, "in") || m.Text == "" || m.HTML == "" {
		t.Fatalf("message to %v, subject %q, text %d bytes, html %d bytes", m.To, m.Subject, len(m.Text), len(m.HTML))
	}
	link := smtptest.SigninLink(m.Text)
	if link == "" || smtptest.SigninLink(m.HTML) == "" {
		t.Fatalf("no sign-in link in the message:\n%s", m.Text)
	}
	// The link carries the listen address as configured (port 0 here):
	// open its path on the server's real address.
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	open := func(jar http.CookieJar, path string) (int, string) {
		t.Helper()
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		res, err := c.Get(srv.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	jar, _ := cookiejar.New(nil)
	if status, body := open(jar, u.RequestURI()); status != 200 || !strings.Contains(body, "Ada") {
		t.Fatalf("following the link: %d\n%s", status, body)
	}
	if status, body := open(jar, "/portal/"); status != 200 || !strings.Contains(body, "Ada") {
		t.Fatalf("GET /portal/ after the link: %d", status)
	}
	again, _ := cookiejar.New(nil)
	if status, _ := open(again, u.RequestURI()); status == 200 {
		t.Fatal("the link signed in a second time")
	}

	// One message for Ada: the next ambassador's is the second to arrive,
	// and the mailer sends in order, so a repeat of Ada's would have come
	// before it.
	mustCreate(t, srv.url+"/v1/ambassadors", map[string]any{"first_name": "Bo", "last_name": "Chen", "email": "bo@uni.example"})
	msgs = smtp.Wait(t, 2, 60*time.Second)
	if len(msgs) != 2 || msgs[1].To[0] != "bo@uni.example" {
		to := []string{}
		for _, m := range msgs {
			to = append(to, m.To...)
		}
		t.Fatalf("messages to %v, want ada then bo", to)
	}
}
