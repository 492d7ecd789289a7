package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// flash is a message shown once, on the page after a change ("Program
// saved."). It rides in a short-lived cookie across the redirect that
// follows every successful POST, signed so that another site cannot
// plant words in the console.
type flash struct {
	// Kind is flashSuccess or flashInfo.
	Kind    string
	Message string
}

// Flash kinds.
const (
	flashSuccess = "success"
	flashInfo    = "info"
)

const flashCookie = "referrald_flash"

func (s *Server) signFlash(v string) string {
	m := hmac.New(sha256.New, s.flashKey)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// setFlash shows msg on the next page the browser gets.
func (s *Server) setFlash(w http.ResponseWriter, r *http.Request, kind, msg string) {
	v := base64.RawURLEncoding.EncodeToString([]byte(kind + "\n" + msg))
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: v + "." + s.signFlash(v), Path: "/console/", MaxAge: 60,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
}

// takeFlash returns the flash the request carries, if any, and clears it.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/console/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteLaxMode})
	v, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.signFlash(v))) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	kind, msg, _ := strings.Cut(string(b), "\n")
	return &flash{Kind: kind, Message: msg}
}
