// Package smtptest runs a real SMTP server on the loopback interface for
// tests in any package: it keeps every message it accepts, lets a test
// wait for them without polling, parses them (subject, text part, HTML
// part, the portal sign-in link) and can be told to refuse mail with a
// temporary or a permanent error, so retries and dead letters can be
// tested against the real protocol.
package smtptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mode is how the server answers MAIL and DATA.
type Mode int

// Modes.
const (
	// Accept takes every message.
	Accept Mode = iota
	// TempFail answers 451: the client should try again later.
	TempFail
	// PermFail answers 550: the message will never be taken.
	PermFail
	// Hang answers MAIL only when the mode changes again or the server
	// closes (then with 451), as a stuck server does.
	Hang
)

// Server is a running SMTP server.
type Server struct {
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{}

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever messages or refusals change
	mode     Mode
	hang     chan struct{} // closed when Hang ends
	user     string
	pass     string
	messages []*Message
	refused  int
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	// Data is the message as received, headers and body.
	Data []byte
	// Header is the parsed header.
	Header mail.Header
	// Subject is the decoded Subject header.
	Subject string
	// Text and HTML are the decoded text/plain and text/html parts.
	Text string
	HTML string
	// ContentType is the media type of the whole message, e.g.
	// multipart/alternative.
	ContentType string
}

// Start starts a server on 127.0.0.1 on a free port; it is closed when
// the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartAt(tb, "127.0.0.1:0")
}

// StartAt starts a server on addr (host:port), so a test can start it
// after the service, on a port it chose earlier.
func StartAt(tb testing.TB, addr string) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("smtptest: listen on %s: %v", addr, err)
	}
	s := &Server{ln: ln, done: make(chan struct{}), changed: make(chan struct{})}
	s.srv = smtp.NewServer(backend{s})
	s.srv.Domain = "smtptest.localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	// The server's own complaints (a client hanging up) could come after
	// the test has ended, when its log is closed.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	tb.Cleanup(s.Close)
	return s
}

// FreeAddr returns a loopback address that nothing listens on now, for a
// server to be started on later with StartAt.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Close stops the server and ends its connections. Closing twice is
// harmless.
func (s *Server) Close() {
	s.SetMode(Accept) // lets hung sessions go
	s.srv.Close()
	// Serve may not have registered the listener yet, when the server
	// cannot close it.
	s.ln.Close()
	<-s.done
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is the IP address the server listens on.
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// RequireAuth makes the server offer AUTH PLAIN and accept mail only
// from a client that signed in as user with pass.
func (s *Server) RequireAuth(user, pass string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.pass = user, pass
}

// SetMode changes how MAIL and DATA are answered from now on.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setMode(m)
}

func (s *Server) setMode(m Mode) {
	if s.hang != nil {
		close(s.hang)
		s.hang = nil
	}
	if m == Hang {
		s.hang = make(chan struct{})
	}
	s.mode = m
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.messages...)
}

// Refused is how many times MAIL or DATA was refused (or hung) by
// SetMode.
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Wait blocks until at least n messages have arrived and returns them;
// it fails the test if they have not within timeout.
func (s *Server) Wait(tb testing.TB, n int, timeout time.Duration) []*Message {
	tb.Helper()
	if !s.waitFor(timeout, func() bool { return len(s.messages) >= n }) {
		tb.Fatalf("smtptest: got %d messages within %v, want %d", len(s.Messages()), timeout, n)
	}
	return s.Messages()
}

// WaitRefused blocks until the server has refused mail at least n times;
// it fails the test if it has not within timeout.
func (s *Server) WaitRefused(tb testing.TB, n int, timeout time.Duration) {
	tb.Helper()
	if !s.waitFor(timeout, func() bool { return s.refused >= n }) {
		tb.Fatalf("smtptest: refused %d times within %v, want %d", s.Refused(), timeout, n)
	}
}

// waitFor waits until cond, called with s.mu held, is true.
func (s *Server) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

// notify wakes the waiters; s.mu is held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// refusal is the error for the current mode, or nil; s.mu is held.
func (s *Server) refusal() error {
	var err error
	switch s.mode {
	case TempFail:
		err = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "smtptest: try again later"}
	case PermFail:
		err = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "smtptest: message refused"}
	default:
		return nil
	}
	s.refused++
	s.notify()
	return err
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		ss.s.mu.Lock()
		defer ss.s.mu.Unlock()
		if ss.s.user == "" || user != ss.s.user || pass != ss.s.pass {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.user != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	if hang := ss.s.hang; hang != nil {
		ss.s.refused++
		ss.s.notify()
		ss.s.mu.Unlock()
		<-hang
		ss.s.mu.Lock()
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "smtptest: was hanging"}
	}
	if err := ss.s.refusal(); err != nil {
		return err
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if err := ss.s.refusal(); err != nil {
		return err
	}
	msg, err := Parse(data)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "smtptest: " + err.Error()}
	}
	msg.From, msg.To = ss.from, append([]string(nil), ss.to...)
	ss.s.messages = append(ss.s.messages, msg)
	ss.s.notify()
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// Parse reads a message: its header, and the text and HTML parts of a
// single-part or (nested) multipart body.
func Parse(data []byte) (*Message, error) {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse message: %w", err)
	}
	msg := &Message{Data: data, Header: m.Header}
	dec := new(mime.WordDecoder)
	if msg.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("decode subject: %w", err)
	}
	if err := msg.readPart(m.Header, m.Body, true); err != nil {
		return nil, err
	}
	return msg, nil
}

func (msg *Message) readPart(h map[string][]string, body io.Reader, top bool) error {
	ct := "text/plain"
	if v := first(h, "Content-Type"); v != "" {
		ct = v
	}
	media, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ct, err)
	}
	if top {
		msg.ContentType = media
	}
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := msg.readPart(p.Header, p, false); err != nil {
				return err
			}
		}
	}
	raw, err := io.ReadAll(decode(first(h, "Content-Transfer-Encoding"), body))
	if err != nil {
		return fmt.Errorf("read %s part: %w", media, err)
	}
	switch media {
	case "text/plain":
		msg.Text += string(raw)
	case "text/html":
		msg.HTML += string(raw)
	}
	return nil
}

func first(h map[string][]string, key string) string {
	for k, v := range h {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

var signinLink = regexp.MustCompile(`https?://[^\s"'<>]+/portal/signin\?token=[^\s"'<>&]+`)

// SigninLink is the first portal sign-in link in s (a text or HTML part),
// or "". An HTML part writes & as &amp;, which a token never holds.
func SigninLink(s string) string { return signinLink.FindString(s) }

// Token is the token of a sign-in link, or "".
func Token(link string) string {
	_, tok, ok := strings.Cut(link, "?token=")
	if !ok {
		return ""
	}
	if t, err := url.QueryUnescape(tok); err == nil {
		return t
	}
	return tok
}

// Recipient is the address of the message's first envelope recipient.
func (msg *Message) Recipient() string {
	if len(msg.To) == 0 {
		return ""
	}
	return msg.To[0]
}

// decode undoes a part's content transfer encoding.
func decode(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	}
	return r
}

// newlineStripper drops the line breaks of a base64 body.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
