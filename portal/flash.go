package portal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// A flash is a message shown once, on the page after a change ("Your
// profile is saved."). It rides in a short-lived cookie across the
// redirect that follows a successful POST, signed so that another site
// cannot plant words in the portal. The console's is the same idea with
// kinds (console/flash.go); the portal has one kind.

const flashCookie = "referrald_portal_flash"

func (s *Server) signFlash(v string) string {
	m := hmac.New(sha256.New, s.flashKey)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// setFlash shows msg on the next page the browser gets.
func (s *Server) setFlash(w http.ResponseWriter, r *http.Request, msg string) {
	v := base64.RawURLEncoding.EncodeToString([]byte(msg))
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: v + "." + s.signFlash(v), Path: "/portal/", MaxAge: 60,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
}

// takeFlash returns the flash the request carries, if any, and clears it.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/portal/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteLaxMode})
	v, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.signFlash(v))) {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	return string(b)
}
