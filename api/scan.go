package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// handleScan serves GET /s/:code, the URL in every poster's QR code: it
// records an impression and sends the visitor to the program's landing
// page with imp=<impression id> added to its query, or, for a program
// without one, to the hosted signup page. It is public and limited per
// client IP.
func (s *Server) handleScan(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	code := strings.ToLower(p.ByName("code"))
	h := w.Header()
	// A redirect that carries a fresh impression must never be cached.
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	if !model.ValidCode(code) {
		s.scanPage(w, http.StatusNotFound, ScanUnknownMessage)
		return nil
	}
	ua := r.UserAgent()
	sc := model.Scan{Code: code, UserAgent: clipBytes(ua, model.MaxUserAgentLen), Referrer: clipBytes(r.Referer(), model.MaxURLLen),
		Bot: model.IsBot(ua), IPHash: s.ipHash(clientIP(r, s.trustedProxies, s.clientIPHeader))}
	res, err := s.svc.Placements.RecordScan(r.Context(), sc, s.repeatWindow.Milliseconds())
	switch {
	case model.ErrorCode(err) == model.ENotFound:
		s.scanPage(w, http.StatusNotFound, ScanUnknownMessage)
		return nil
	case err != nil:
		return err
	case !res.Active && (s.expiredPage || res.LandingURL == ""):
		// Without a landing page there is nowhere to send the visitor:
		// the signup page takes only a recorded scan.
		s.scanPage(w, http.StatusGone, ScanExpiredMessage)
		return nil
	case res.LandingURL == "":
		http.Redirect(w, r, JoinPath(code, res.Impression.ID), http.StatusFound)
		return nil
	}
	if res.Impression != nil {
		s.metrics.Scanned(sc.Bot)
	}
	target, err := url.Parse(res.LandingURL)
	if err != nil {
		return err
	}
	if res.Impression != nil {
		target.RawQuery = withImpression(target.RawQuery, res.Impression.ID)
	}
	http.Redirect(w, r, target.String(), http.StatusFound)
	return nil
}

// withImpression adds imp=id to a landing page's raw query. The rest of
// the query is kept as the program wrote it, in its order and encoding,
// since the landing page may read it in ways url.Values would not keep
// (';' separators, repeated keys); an imp already there, between '&' or
// ';', is replaced.
func withImpression(rawQuery, id string) string {
	var kept []string
	for _, part := range strings.Split(rawQuery, "&") {
		var pairs []string
		for _, pair := range strings.Split(part, ";") {
			if key, _, _ := strings.Cut(pair, "="); pair != "" && key != "imp" {
				pairs = append(pairs, pair)
			}
		}
		if len(pairs) > 0 {
			kept = append(kept, strings.Join(pairs, ";"))
		}
	}
	return strings.Join(append(kept, "imp="+url.QueryEscape(id)), "&")
}

// What the scan route's pages say, which the signup page says too.
const (
	ScanUnknownMessage = "This poster's code is not known."
	ScanExpiredMessage = "This poster has expired."
)

// JoinPath is the path of the hosted signup page for the scan impressionID
// of the poster with code: where a scan of a program without a landing
// page goes.
func JoinPath(code, impressionID string) string {
	return "/join/" + code + "?imp=" + url.QueryEscape(impressionID)
}

var scanTemplate = template.Must(template.New("scan").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}}</title><style>body{font-family:system-ui,sans-serif;margin:20vh auto;max-width:30em;text-align:center;color:#333}</style>
</head><body><h1>{{.}}</h1></body></html>
`))

// scanPage answers a scan that leads nowhere with a small page for a
// phone, not a JSON problem.
func (s *Server) scanPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	scanTemplate.Execute(w, msg)
}

// ipHash is a keyed hash of ip whose key changes every UTC day: repeat
// scans within a day match, a person cannot be followed across days, and
// the IP itself is never stored or logged.
func (s *Server) ipHash(ip string) [16]byte {
	day := hmac.New(sha256.New, s.scanSecret)
	day.Write([]byte(s.now().UTC().Format("2006-01-02")))
	h := hmac.New(sha256.New, day.Sum(nil))
	h.Write([]byte(ip))
	return [16]byte(h.Sum(nil))
}

// clientIP is the peer's address, or, when the peer is a trusted proxy,
// the address it forwarded in header (ForwardedHeader or
// XForwardedForHeader): the right-most hop that is not itself a trusted
// proxy. Hops further left are the client's own claims and can be forged,
// and so can every other forwarding header, which is why only the one
// the operator's proxies set is read. It is used for rate limits and the
// scan hash, never stored or logged.
func clientIP(r *http.Request, trusted []netip.Prefix, header string) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !inPrefixes(peer, trusted) {
		return host
	}
	var hops []string
	if header == XForwardedForHeader {
		hops = xForwardedFor(r)
	} else {
		hops = forwardedFor(r)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(hops[i])
		if err != nil {
			break
		}
		if !inPrefixes(addr.Unmap(), trusted) {
			return addr.Unmap().String()
		}
	}
	return host
}

// ClientKey is the key of r's client for a limit per client IP: its
// address as the API reads it (from header, ForwardedHeader or
// XForwardedForHeader, when the peer is one of trusted), or its /64 for an
// IPv6 client.
func ClientKey(r *http.Request, trusted []netip.Prefix, header string) string {
	if strings.EqualFold(header, XForwardedForHeader) {
		header = XForwardedForHeader
	}
	return ipLimitKey(clientIP(r, trusted, header))
}

// Forwarding headers a trusted proxy can name the client in.
const (
	ForwardedHeader     = "Forwarded" // RFC 7239
	XForwardedForHeader = "X-Forwarded-For"
)

// xForwardedFor lists the hops of X-Forwarded-For, left to right.
func xForwardedFor(r *http.Request) []string {
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, part := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	return hops
}

// forwardedFor lists the for= addresses of the RFC 7239 Forwarded header,
// left to right. Elements are split at every comma, quoted or not: no
// address holds one, and a quote the client leaves open must not swallow
// the element its proxy appends.
func forwardedFor(r *http.Request) []string {
	var hops []string
	for _, v := range r.Header.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(k, "for") {
					continue
				}
				val = strings.Trim(val, `"`)
				if strings.HasPrefix(val, "[") {
					val = strings.TrimPrefix(strings.SplitN(val, "]", 2)[0], "[")
				} else if h, _, err := net.SplitHostPort(val); err == nil {
					val = h
				}
				hops = append(hops, val)
			}
		}
	}
	return hops
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// clipBytes cuts s to at most n bytes on a character boundary.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// DefaultRepeatWindow is how long a second scan of one poster by one
// client counts as a repeat.
const DefaultRepeatWindow = 30 * time.Minute
