package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"

	gomail "github.com/wneessen/go-mail"
)

// sender hands messages to the SMTP server, one connection per message:
// messages are few (a welcome, a sign-in link), and a fresh connection
// never finds a server that hung up on an idle one.
type sender struct {
	cfg  Config
	opts []gomail.Option
	tls  *tls.Config
}

func newSender(cfg Config) (*sender, error) {
	s := &sender{cfg: cfg, tls: &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}}
	s.opts = []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout), gomail.WithTLSConfig(s.tls)}
	switch cfg.TLS {
	case TLSStartTLS:
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		// The connection is TLS from the start (dial does the handshake),
		// so there is no STARTTLS.
		s.opts = append(s.opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSOpportunistic:
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSNone:
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, fmt.Errorf("email TLS mode %q: must be %s, %s, %s or %s", cfg.TLS, TLSStartTLS, TLSImplicit, TLSOpportunistic, TLSNone)
	}
	if cfg.Username != "" {
		// PLAIN or LOGIN, whichever the server offers (else go-mail's
		// discovery of the stronger ones). Both refuse to send the
		// password over a connection without TLS, except to a relay on
		// this machine, which New only allows in mode none.
		mechs := []gomail.SMTPAuthType{gomail.SMTPAuthPlain, gomail.SMTPAuthLogin}
		if cfg.TLS == TLSNone && isLoopback(cfg.Host) {
			mechs = []gomail.SMTPAuthType{gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc}
		}
		s.opts = append(s.opts, gomail.WithOpportunisticSMTPAuth(mechs...),
			gomail.WithUsername(cfg.Username), gomail.WithPassword(cfg.Password))
	}
	// Fail now on an option go-mail refuses (a port out of range).
	if _, err := gomail.NewClient(cfg.Host, s.opts...); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sendError is a failed send: temporary ones are tried again, permanent
// ones never.
type sendError struct {
	err  error
	temp bool
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

func temporary(err error) error { return &sendError{err: err, temp: true} }
func permanent(err error) error { return &sendError{err: err} }

// isTemporary reports whether err is worth trying again. An error that
// is not a sendError (a store error, say) is.
func isTemporary(err error) bool {
	var se *sendError
	return !errors.As(err, &se) || se.temp
}

// send delivers msg. Cancelling ctx closes the connection, so a send in
// flight ends at once whatever it is waiting for.
func (s *sender) send(ctx context.Context, msg *gomail.Msg) error {
	var stopCutoff []func() bool
	defer func() {
		for _, stop := range stopCutoff {
			stop()
		}
	}()
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		d := &net.Dialer{}
		var conn net.Conn
		var err error
		if s.cfg.TLS == TLSImplicit {
			conn, err = (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(dctx, network, addr)
		} else {
			conn, err = d.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		stopCutoff = append(stopCutoff, context.AfterFunc(ctx, func() { conn.Close() }))
		return conn, nil
	}
	client, err := gomail.NewClient(s.cfg.Host, append(s.opts, gomail.WithDialContextFunc(dial))...)
	if err != nil {
		return permanent(err)
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		// Connection refused, a timeout, TLS or AUTH failing: none of
		// it is the message's fault, so it waits for the server.
		return temporary(fmt.Errorf("connect to %s: %w", net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port)), err))
	}
	defer client.CloseWithSMTPClient(conn)
	if err := client.SendWithSMTPClient(conn, msg); err != nil {
		// A 5xx reply to MAIL, RCPT or DATA refuses this message for
		// good; a 4xx, or a connection lost, is worth another try.
		var se *gomail.SendError
		if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
			return permanent(err)
		}
		return temporary(err)
	}
	return nil
}
