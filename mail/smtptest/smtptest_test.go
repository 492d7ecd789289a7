package smtptest_test

import (
	"errors"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/mail/smtptest"
)

const multipartMsg = "From: A <a@example.com>\r\n" +
	"To: B <b@example.com>\r\n" +
	"Subject: =?UTF-8?q?Hi_=C3=A9?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=XX\r\n" +
	"\r\n" +
	"--XX\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Open http://h.example/portal/signin?token=3Dabc_DEF-1 now =\r\n" +
	"please\r\n" +
	"--XX\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PGEgaHJlZj0iaHR0cDovL2guZXhhbXBsZS9wb3J0YWwvc2lnbmluP3Rva2VuPWFiY19ERUYtMSI+\r\n" +
	"T3BlbjwvYT4=\r\n" +
	"--XX--\r\n"

// The server takes a message over real SMTP and parses its parts; it can
// refuse mail for a while, temporarily or for good.
func TestServer(t *testing.T) {
	srv := smtptest.Start(t)
	send := func() error {
		return smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(multipartMsg))
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Wait(t, 1, 5*time.Second)
	m := msgs[0]
	if m.From != "a@example.com" || m.Recipient() != "b@example.com" {
		t.Errorf("envelope %q → %q", m.From, m.To)
	}
	if m.Subject != "Hi é" || m.ContentType != "multipart/alternative" {
		t.Errorf("subject %q, content type %q", m.Subject, m.ContentType)
	}
	if !strings.Contains(m.Text, "now please") {
		t.Errorf("text part %q: quoted-printable not decoded", m.Text)
	}
	link := "http://h.example/portal/signin?token=abc_DEF-1"
	if got := smtptest.SigninLink(m.Text); got != link {
		t.Errorf("text link %q, want %q", got, link)
	}
	if got := smtptest.SigninLink(m.HTML); got != link {
		t.Errorf("HTML link %q, want %q (HTML %q)", got, link, m.HTML)
	}
	if got := smtptest.Token(link); got != "abc_DEF-1" {
		t.Errorf("token %q", got)
	}

	for _, tc := range []struct {
		mode smtptest.Mode
		code int
	}{{smtptest.TempFail, 451}, {smtptest.PermFail, 550}} {
		srv.SetMode(tc.mode)
		err := send()
		var perr *textproto.Error
		if !errors.As(err, &perr) || perr.Code != tc.code {
			t.Errorf("mode %v: got %v, want %d", tc.mode, err, tc.code)
		}
	}
	srv.WaitRefused(t, 2, time.Second)
	srv.SetMode(smtptest.Accept)
	if err := send(); err != nil {
		t.Fatal(err)
	}
	if got := len(srv.Wait(t, 2, 5*time.Second)); got != 2 {
		t.Errorf("got %d messages, want 2", got)
	}
}

// With a user set, mail is taken only after AUTH PLAIN with its password.
func TestServerAuth(t *testing.T) {
	srv := smtptest.Start(t)
	srv.RequireAuth("u", "p")
	msg := []byte("Subject: x\r\n\r\nbody\r\n")
	if err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, msg); err == nil {
		t.Fatal("mail without AUTH was taken")
	}
	// net/smtp sends PLAIN over plain text only to localhost.
	addr := "localhost:" + strconv.Itoa(srv.Port())
	if err := smtp.SendMail(addr, smtp.PlainAuth("", "u", "wrong", "localhost"), "a@example.com", []string{"b@example.com"}, msg); err == nil {
		t.Fatal("a wrong password was taken")
	}
	if err := smtp.SendMail(addr, smtp.PlainAuth("", "u", "p", "localhost"), "a@example.com", []string{"b@example.com"}, msg); err != nil {
		t.Fatal(err)
	}
	srv.Wait(t, 1, 5*time.Second)
}

// A server can be started on an address chosen before, and a closed one
// refuses connections.
func TestStartAt(t *testing.T) {
	addr := smtptest.FreeAddr(t)
	srv := smtptest.StartAt(t, addr)
	if srv.Addr() != addr || srv.Host() != "127.0.0.1" {
		t.Fatalf("listening on %s (host %s), want %s", srv.Addr(), srv.Host(), addr)
	}
	srv.Close()
	if err := smtp.SendMail(addr, nil, "a@example.com", []string{"b@example.com"}, []byte("\r\n")); err == nil {
		t.Fatal("a closed server took mail")
	}
	srv.Close()
}
