package api_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/netip"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/model"
)

const iPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"

type poster struct{ program, ambassador, id, code string }

func (e *env) poster(t testing.TB) poster {
	t.Helper()
	p := e.post("/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com/join?utm_source=poster"})
	a := e.post("/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "amb-" + p["id"].(string) + "@example.com"})
	pl := e.post("/v1/placements", map[string]any{"program_id": p["id"], "ambassador_id": a["id"], "label": "Library, 2nd floor",
		"location": map[string]any{"address": "1 Campus Rd", "latitude": 52.5, "longitude": 13.4}})
	return poster{p["id"].(string), a["id"].(string), pl["id"].(string), pl["code"].(string)}
}

func (e *env) scan(code, ua, addr string, header map[string]string) response {
	h := map[string]string{"User-Agent": ua}
	for k, v := range header {
		h[k] = v
	}
	return e.call(request{Method: "GET", Path: "/s/" + code, Header: h, RemoteAddr: addr})
}

func TestPlacements(t *testing.T) {
	e := withServer(newEnv(t), api.Config{PublicBaseURL: "https://go.example.edu/"})
	p := e.poster(t)
	if !model.ValidCode(p.code) {
		t.Fatalf("code %q is not %d characters of the unambiguous alphabet", p.code, model.CodeLen)
	}
	got := e.call(request{Method: "GET", Path: "/v1/placements/" + p.id, Token: e.readToken}).JSON(t)
	if got["scan_url"] != "https://go.example.edu/s/"+p.code || got["active"] != true || got["label"] != "Library, 2nd floor" ||
		got["location"].(map[string]any)["latitude"] != 52.5 {
		t.Fatalf("placement: %v", got)
	}
	list := e.call(request{Method: "GET", Path: "/v1/placements?ambassador_id=" + p.ambassador, Token: e.readToken}).JSON(t)
	if n := len(list["data"].([]any)); n != 1 {
		t.Fatalf("placements of the ambassador: %d", n)
	}
	res := e.call(request{Method: "PATCH", Path: "/v1/placements/" + p.id, Token: adminToken, Body: map[string]any{"active": false, "location": nil}})
	if got := res.JSON(t); got["active"] != false || got["location"] != nil || got["code"] != p.code {
		t.Fatalf("PATCH: %v", got)
	}
	fields := wantProblem(t, e.call(request{Method: "POST", Path: "/v1/placements", Token: adminToken, Body: map[string]any{
		"program_id": p.program, "ambassador_id": "amb_01jdq3f7k8m2n4p6r8t0v2x4z6", "location": map[string]any{"latitude": 91}}}), 400, "validation_failed")
	if fields["ambassador_id"] != "not_found" || fields["location.latitude"] != "invalid_value" {
		t.Fatalf("got %v", fields)
	}

	// An impression of a placement takes its program and ambassador.
	imp := e.post("/v1/impressions", map[string]any{"placement_id": p.id})
	if imp["program_id"] != p.program || imp["ambassador_id"] != p.ambassador || imp["placement_id"] != p.id {
		t.Fatalf("impression of a placement: %v", imp)
	}
	other := e.poster(t)
	fields = wantProblem(t, e.call(request{Method: "POST", Path: "/v1/impressions", Token: e.writeToken,
		Body: map[string]any{"placement_id": p.id, "program_id": other.program}}), 400, "validation_failed")
	if fields["program_id"] != "invalid_value" {
		t.Fatalf("mismatched program: %v", fields)
	}
}

func TestScanRecordsAndRedirects(t *testing.T) {
	e := newEnv(t)
	p := e.poster(t)
	res := e.scan(p.code, iPhone, "198.51.100.7:4000", map[string]string{"Referer": "https://instagram.com/"})
	if res.Status != 302 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("scan: %d %v", res.Status, res.Header)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Host != "example.com" || loc.Query().Get("utm_source") != "poster" {
		t.Fatalf("Location %q: want the landing page with its own query kept", res.Header.Get("Location"))
	}
	impID := loc.Query().Get("imp")
	imp := e.call(request{Method: "GET", Path: "/v1/impressions/" + impID, Token: e.readToken}).JSON(t)
	if imp["placement_id"] != p.id || imp["program_id"] != p.program || imp["user_agent"] != iPhone ||
		imp["referrer"] != "https://instagram.com/" || len(imp["flags"].([]any)) != 0 {
		t.Fatalf("impression: %v", imp)
	}
	// A signup from it is a referral of the poster's ambassador.
	ref := e.post("/v1/referrals", validReferral(impID))
	if ref["placement_id"] != p.id || ref["ambassador_id"] != p.ambassador {
		t.Fatalf("referral: %v", ref)
	}

	// The same phone again: a repeat. Another phone: not. A link preview: a bot.
	flagsOf := func(res response) string {
		t.Helper()
		loc, _ := url.Parse(res.Header.Get("Location"))
		imp := e.call(request{Method: "GET", Path: "/v1/impressions/" + loc.Query().Get("imp"), Token: e.readToken}).JSON(t)
		var flags []string
		for _, f := range imp["flags"].([]any) {
			flags = append(flags, f.(string))
		}
		return strings.Join(flags, ",")
	}
	if f := flagsOf(e.scan(p.code, iPhone, "198.51.100.7:4001", nil)); f != "repeat_scan" {
		t.Fatalf("repeat scan flags: %q", f)
	}
	if f := flagsOf(e.scan(p.code, iPhone, "198.51.100.8:4000", nil)); f != "" {
		t.Fatalf("another phone's flags: %q", f)
	}
	if f := flagsOf(e.scan(p.code, "WhatsApp/2.23.20.0 A", "198.51.100.9:4000", nil)); f != "bot" {
		t.Fatalf("link preview flags: %q", f)
	}
	funnel := e.call(request{Method: "GET", Path: "/v1/stats/funnel?placement_id=" + p.id, Token: e.readToken}).JSON(t)
	// The bot is recorded but left out of the funnel's counts; the repeat
	// counts as an impression but not in the rate.
	if funnel["impressions"] != 3.0 || funnel["bot_impressions"] != 1.0 || funnel["excluded_impressions"] != 1.0 ||
		funnel["referrals"] != 1.0 || funnel["scan_to_signup_rate"] != 0.5 {
		t.Fatalf("funnel of the poster: %v", funnel)
	}

	// The scanner's IP is nowhere in the store: not in any record, index
	// or event.
	backup := e.call(request{Method: "GET", Path: "/v1/admin/backup", Token: adminToken})
	for _, ip := range []string{"198.51.100.7", "198.51.100.8"} {
		if bytes.Contains(backup.Body, []byte(ip)) {
			t.Fatalf("the store holds the raw IP %s", ip)
		}
	}

	// Unknown and malformed codes get a small page.
	for _, code := range []string{"zzzzzzzzzz", "nope", strings.ToUpper(p.code) + "x"} {
		res := e.scan(code, iPhone, "", nil)
		if res.Status != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("code %q: %d %v", code, res.Status, res.Header)
		}
	}
	// A code read off a poster in capitals still works.
	if res := e.scan(strings.ToUpper(p.code), iPhone, "", nil); res.Status != 302 {
		t.Fatalf("upper-case code: %d", res.Status)
	}
}

func TestInactivePoster(t *testing.T) {
	e := newEnv(t)
	p := e.poster(t)
	e.call(request{Method: "PATCH", Path: "/v1/placements/" + p.id, Token: adminToken, Body: map[string]any{"active": false}})
	res := e.scan(p.code, iPhone, "", nil)
	if res.Status != 302 || strings.Contains(res.Header.Get("Location"), "imp=") {
		t.Fatalf("inactive poster: %d %q; want a redirect that records nothing", res.Status, res.Header.Get("Location"))
	}
	list := e.call(request{Method: "GET", Path: "/v1/impressions?placement_id=" + p.id, Token: e.readToken}).JSON(t)
	if n := len(list["data"].([]any)); n != 0 {
		t.Fatalf("impressions of an inactive poster: %d", n)
	}
	e = withServer(e, api.Config{ExpiredPage: true})
	if res := e.scan(p.code, iPhone, "", nil); res.Status != 410 || !bytes.Contains(res.Body, []byte("expired")) {
		t.Fatalf("expired page: %d %s", res.Status, res.Body)
	}
}

// A program without a landing page sends its scans to the hosted signup
// page, /join/<code>, with the impression, which is recorded and flagged
// as any other scan's; an inactive poster of it has nowhere to send them
// and says it has expired, whatever scan.inactive says.
func TestScanWithoutLandingPage(t *testing.T) {
	e := newEnv(t)
	prg := e.post("/v1/programs", map[string]any{"name": "Hosted"})
	if prg["landing_url"] != "" {
		t.Fatalf("a program created without a landing page: landing_url %v", prg["landing_url"])
	}
	amb := e.post("/v1/ambassadors", map[string]any{"first_name": "Ada", "last_name": "L", "email": "ada@uni.example"})
	pl := e.post("/v1/placements", map[string]any{"program_id": prg["id"], "ambassador_id": amb["id"]})
	p := poster{prg["id"].(string), amb["id"].(string), pl["id"].(string), pl["code"].(string)}

	res := e.scan(strings.ToUpper(p.code), iPhone, "198.51.100.7:4000", nil)
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.Status != 302 || err != nil || loc.IsAbs() || loc.Path != "/join/"+p.code || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("scan: %d, Location %q; want 302 to /join/%s", res.Status, res.Header.Get("Location"), p.code)
	}
	imp := e.call(request{Method: "GET", Path: "/v1/impressions/" + loc.Query().Get("imp"), Token: e.readToken}).JSON(t)
	if imp["placement_id"] != p.id || len(imp["flags"].([]any)) != 0 {
		t.Fatalf("the scan's impression: %v", imp)
	}
	if f := e.scanFlags(t, p, "198.51.100.7:4001", nil); f != "repeat_scan" {
		t.Errorf("a repeat scan: flags %q", f)
	}
	if res := e.scan(p.code, "WhatsApp/2.23.20.0 A", "198.51.100.9:4000", nil); res.Status != 302 ||
		!strings.HasPrefix(res.Header.Get("Location"), "/join/"+p.code+"?imp=imp_") {
		t.Errorf("a link preview: %d %q, want the signup page", res.Status, res.Header.Get("Location"))
	}
	if f := e.scanFlags(t, p, "198.51.100.10:4000", map[string]string{"User-Agent": "WhatsApp/2.23.20.0 A"}); f != "bot" {
		t.Errorf("a link preview: flags %q", f)
	}

	e.call(request{Method: "PATCH", Path: "/v1/placements/" + p.id, Token: adminToken, Body: map[string]any{"active": false}})
	if res := e.scan(p.code, iPhone, "198.51.100.11:4000", nil); res.Status != 410 || !bytes.Contains(res.Body, []byte(api.ScanExpiredMessage)) {
		t.Errorf("an inactive poster of a hosted program: %d %s, want the expired page", res.Status, res.Body)
	}
	list := e.call(request{Method: "GET", Path: "/v1/impressions?placement_id=" + p.id, Token: e.readToken}).JSON(t)
	if n := len(list["data"].([]any)); n != 4 {
		t.Errorf("impressions of the poster: %d, want the 4 scans while it was up", n)
	}
}

// A landing page can be set on a program and cleared again, with "" or
// null; a scan follows what the program has now.
func TestProgramLandingPageCleared(t *testing.T) {
	e := newEnv(t)
	p := e.poster(t)
	for _, clear := range []any{"", nil} {
		res := e.call(request{Method: "PATCH", Path: "/v1/programs/" + p.program, Token: adminToken, Body: map[string]any{"landing_url": clear}})
		if got := res.JSON(t); res.Status != 200 || got["landing_url"] != "" {
			t.Fatalf("PATCH landing_url %v: %d %v", clear, res.Status, got)
		}
		if loc := e.scan(p.code, iPhone, "", nil).Header.Get("Location"); !strings.HasPrefix(loc, "/join/"+p.code+"?imp=") {
			t.Fatalf("scan after clearing with %v: Location %q", clear, loc)
		}
		e.call(request{Method: "PATCH", Path: "/v1/programs/" + p.program, Token: adminToken, Body: map[string]any{"landing_url": "https://example.com/new"}})
		if loc := e.scan(p.code, iPhone, "", nil).Header.Get("Location"); !strings.HasPrefix(loc, "https://example.com/new?imp=") {
			t.Fatalf("scan after setting a landing page again: Location %q", loc)
		}
	}
	bad := e.call(request{Method: "PATCH", Path: "/v1/programs/" + p.program, Token: adminToken, Body: map[string]any{"landing_url": "ftp://x"}})
	if fields := wantProblem(t, bad, 400, "validation_failed"); fields["landing_url"] != "invalid_url" {
		t.Errorf("PATCH landing_url ftp://x: %v", fields)
	}
}

func TestScanBehindAProxy(t *testing.T) {
	e := withServer(newEnv(t), api.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	p := e.poster(t)
	flags := func(addr, fwd string) string {
		t.Helper()
		return e.scanFlags(t, p, addr, map[string]string{"Forwarded": fwd})
	}
	// Through the trusted proxy, two different clients are two visitors;
	// a client's forged left-most element does not make it someone else,
	// and a chain of trusted proxies is walked past.
	if f := flags("10.0.0.1:1", "for=203.0.113.5"); f != "" {
		t.Fatalf("first client: %q", f)
	}
	if f := flags("10.0.0.1:1", `for="[2001:db8::5]:4711";proto=https`); f != "" {
		t.Fatalf("second client, IPv6 with a port: %q", f)
	}
	if f := flags("10.0.0.1:1", "for=1.2.3.4, for=203.0.113.5"); f != "repeat_scan" {
		t.Fatalf("forged left-most element: %q, want the real client's repeat", f)
	}
	if f := flags("10.0.0.1:1", "for=203.0.113.5;proto=https, for=10.0.0.2"); f != "repeat_scan" {
		t.Fatalf("two trusted proxies: %q, want the real client's repeat", f)
	}
	// From an untrusted peer the header is ignored: the peer is the client.
	if f := flags("198.51.100.1:1", "for=203.0.113.77"); f != "" {
		t.Fatalf("untrusted peer: %q", f)
	}
	if f := flags("198.51.100.1:1", "for=203.0.113.78"); f != "repeat_scan" {
		t.Fatalf("untrusted peer with another forged header: %q, want a repeat", f)
	}
}

// Proxies that only set X-Forwarded-For are read with client_ip_header:
// x-forwarded-for, and then Forwarded is the one ignored.
func TestScanBehindAProxyXForwardedFor(t *testing.T) {
	e := withServer(newEnv(t), api.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		ClientIPHeader: "x-forwarded-for"})
	p := e.poster(t)
	flags := func(addr, xff string) string {
		t.Helper()
		return e.scanFlags(t, p, addr, map[string]string{"X-Forwarded-For": xff})
	}
	if f := flags("10.0.0.1:1", "203.0.113.5"); f != "" {
		t.Fatalf("first client: %q", f)
	}
	if f := flags("10.0.0.1:1", "203.0.113.6"); f != "" {
		t.Fatalf("second client: %q", f)
	}
	if f := flags("10.0.0.1:1", "1.2.3.4, 203.0.113.5"); f != "repeat_scan" {
		t.Fatalf("forged left-most entry: %q, want the real client's repeat", f)
	}
	if f := flags("198.51.100.1:1", "203.0.113.77"); f != "" {
		t.Fatalf("untrusted peer: %q", f)
	}
	if f := flags("198.51.100.1:1", "203.0.113.78"); f != "repeat_scan" {
		t.Fatalf("untrusted peer with another forged header: %q, want a repeat", f)
	}
	if f := e.scanFlags(t, p, "10.0.0.1:1", map[string]string{"X-Forwarded-For": "203.0.113.6", "Forwarded": "for=203.0.113.99"}); f != "repeat_scan" {
		t.Fatalf("a made-up Forwarded: %q, want the X-Forwarded-For client's repeat", f)
	}
}

// scanFlags scans p through peer with header and returns the flags of the
// impression it recorded, or the problem when it was refused.
func (e *env) scanFlags(t *testing.T, p poster, peer string, header map[string]string) string {
	t.Helper()
	res := e.scan(p.code, iPhone, peer, header)
	if res.Status != 302 {
		return fmt.Sprintf("%d %s", res.Status, res.Body)
	}
	loc, _ := url.Parse(res.Header.Get("Location"))
	imp := e.call(request{Method: "GET", Path: "/v1/impressions/" + loc.Query().Get("imp"), Token: e.readToken}).JSON(t)
	var out []string
	for _, f := range imp["flags"].([]any) {
		out = append(out, f.(string))
	}
	return strings.Join(out, ",")
}

// Behind a trusted proxy that says who the client is in Forwarded, an
// X-Forwarded-For the client made up (a new one each time) neither buys
// it a new rate-limit bucket nor hides its repeat scans: only the one
// configured header is read, Forwarded by default.
func TestScanBehindAProxyReadsOneHeader(t *testing.T) {
	e := withServer(newEnv(t), api.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		IPRateLimit: api.Bucket{Rate: 0.001, Burst: 3}})
	p := e.poster(t)
	rotating := func(i int) map[string]string {
		return map[string]string{"Forwarded": "for=203.0.113.7", "X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)}
	}
	for i, want := range []string{"", "repeat_scan", "repeat_scan"} {
		if got := e.scanFlags(t, p, "10.0.0.1:1", rotating(i)); got != want {
			t.Fatalf("scan %d: got %q, want %q", i, got, want)
		}
	}
	wantProblem(t, e.scan(p.code, iPhone, "10.0.0.1:1", rotating(3)), 429, "rate_limited")
	// Another client behind the same proxy has a bucket of its own.
	if got := e.scanFlags(t, p, "10.0.0.1:1", map[string]string{"Forwarded": "for=203.0.113.8"}); got != "" {
		t.Fatalf("another client: got %q", got)
	}
}

func TestScanRateLimitPerIP(t *testing.T) {
	e := withServer(newEnv(t), api.Config{IPRateLimit: api.Bucket{Rate: 1, Burst: 2}})
	p := e.poster(t)
	e.scan(p.code, iPhone, "198.51.100.1:1", nil)
	e.scan(p.code, iPhone, "198.51.100.1:1", nil)
	wantProblem(t, e.scan(p.code, iPhone, "198.51.100.1:1", nil), 429, "rate_limited")
	if res := e.scan(p.code, iPhone, "198.51.100.2:1", nil); res.Status != 302 {
		t.Fatalf("another IP: %d", res.Status)
	}
}

func TestScanRateLimitPerIPv6Slash64(t *testing.T) {
	e := withServer(newEnv(t), api.Config{IPRateLimit: api.Bucket{Rate: 1, Burst: 2}})
	p := e.poster(t)
	// Addresses of one /64 are one subscriber's: they share a bucket.
	e.scan(p.code, iPhone, "[2001:db8:1:2::1]:1", nil)
	e.scan(p.code, iPhone, "[2001:db8:1:2:ffff:ffff:ffff:fffe]:1", nil)
	wantProblem(t, e.scan(p.code, iPhone, "[2001:db8:1:2:abcd::7]:1", nil), 429, "rate_limited")
	if res := e.scan(p.code, iPhone, "[2001:db8:1:3::1]:1", nil); res.Status != 302 {
		t.Fatalf("another /64: %d", res.Status)
	}
	// An IPv4 address mapped into IPv6 is limited as that IPv4 address.
	e.scan(p.code, iPhone, "[::ffff:198.51.100.7]:1", nil)
	e.scan(p.code, iPhone, "198.51.100.7:2", nil)
	wantProblem(t, e.scan(p.code, iPhone, "[::ffff:198.51.100.7]:3", nil), 429, "rate_limited")
	if res := e.scan(p.code, iPhone, "[::ffff:198.51.100.8]:1", nil); res.Status != 302 {
		t.Fatalf("a neighbouring mapped IPv4 address: %d", res.Status)
	}
}

func TestPlacementQRCodes(t *testing.T) {
	e := withServer(newEnv(t), api.Config{PublicBaseURL: "https://go.example.edu"})
	p := e.poster(t)
	res := e.call(request{Method: "GET", Path: "/v1/placements/" + p.id + "/qr.png?size=300&margin=4", Token: e.readToken})
	if res.Status != 200 || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr.png: %d %v", res.Status, res.Header)
	}
	if got := decodeQR(t, res.Body); got != "https://go.example.edu/s/"+p.code {
		t.Fatalf("the QR code says %q, want the scan URL", got)
	}
	svg := e.call(request{Method: "GET", Path: "/v1/placements/" + p.id + "/qr.svg?ecc=h", Token: e.readToken})
	if svg.Status != 200 || svg.Header.Get("Content-Type") != "image/svg+xml" || !bytes.Contains(svg.Body, []byte("<path")) {
		t.Fatalf("qr.svg: %d %v", svg.Status, svg.Header)
	}
	for _, q := range []string{"size=10", "margin=99", "ecc=X", "size=big", "colour=red"} {
		wantProblem(t, e.call(request{Method: "GET", Path: "/v1/placements/" + p.id + "/qr.png?" + q, Token: e.readToken}), 400, "validation_failed")
	}
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/placements/plc_01jdq3f7k8m2n4p6r8t0v2x4z6/qr.png", Token: e.readToken}), 404, "not_found")
}

// A QR image never changes for a placement and its options: it carries
// an ETag and Cache-Control, and a client that has it is answered 304
// without it.
func TestPlacementQRConditional(t *testing.T) {
	e := newEnv(t)
	p := e.poster(t)
	base := "/v1/placements/" + p.id
	get := func(path, ifNoneMatch string) response {
		t.Helper()
		return e.call(request{Method: "GET", Path: base + path, Token: e.readToken, Header: map[string]string{"If-None-Match": ifNoneMatch}})
	}
	first := get("/qr.png?size=2048&ecc=H", "")
	etag, cc := first.Header.Get("ETag"), first.Header.Get("Cache-Control")
	if first.Status != 200 || len(etag) < 3 || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || !strings.Contains(cc, "private") {
		t.Fatalf("qr.png: got %d, ETag %q, Cache-Control %q; want 200 with a strong ETag and private caching", first.Status, etag, cc)
	}
	if again := get("/qr.png?size=2048&ecc=H", ""); again.Header.Get("ETag") != etag || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("the same image again: ETag %q, %d bytes; want %q and the same bytes", again.Header.Get("ETag"), len(again.Body), etag)
	}
	// ecc in lower case asks for the same image.
	if got := get("/qr.png?ecc=h&size=2048", "").Header.Get("ETag"); got != etag {
		t.Errorf("ecc=h: got ETag %q, want %q", got, etag)
	}
	for _, inm := range []string{etag, "W/" + etag, `"x", ` + etag, "*"} {
		res := get("/qr.png?size=2048&ecc=H", inm)
		if res.Status != 304 || len(res.Body) != 0 || res.Header.Get("ETag") != etag || res.Header.Get("Cache-Control") != cc {
			t.Errorf("If-None-Match %s: got %d, %d bytes, ETag %q, Cache-Control %q; want 304, none, %s, %s",
				inm, res.Status, len(res.Body), res.Header.Get("ETag"), res.Header.Get("Cache-Control"), etag, cc)
		}
	}
	if res := get("/qr.png?size=2048&ecc=H", `"something else"`); res.Status != 200 || !bytes.Equal(res.Body, first.Body) {
		t.Errorf("another tag: got %d, want the image", res.Status)
	}
	// Other options or another format: another image, another tag.
	for _, path := range []string{"/qr.png?size=2048&ecc=M", "/qr.png?size=1024&ecc=H", "/qr.png?size=2048&ecc=H&margin=2", "/qr.svg?size=2048&ecc=H"} {
		res := get(path, etag)
		if res.Status != 200 || res.Header.Get("ETag") == "" || res.Header.Get("ETag") == etag {
			t.Errorf("%s: got %d with ETag %q; want 200 with a tag of its own", path, res.Status, res.Header.Get("ETag"))
		}
	}
	// The tag is the image's, not the process's: a restarted server knows it.
	e = withServer(e, api.Config{})
	if res := get("/qr.png?size=2048&ecc=H", etag); res.Status != 304 {
		t.Errorf("after a restart: got %d, want 304", res.Status)
	}
}

func decodeQR(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res.GetText()
}

func TestScanDataRetention(t *testing.T) {
	e := newEnv(t)
	p := e.poster(t)
	const oldUA = "Mozilla/5.0 (OldPhone) Retained/1.0"
	res := e.scan(p.code, oldUA, "198.51.100.7:1", map[string]string{"Referer": "https://old.example/"})
	oldImp, _ := url.Parse(res.Header.Get("Location"))
	e.clock.Add(91 * 24 * time.Hour)
	res = e.scan(p.code, iPhone, "198.51.100.8:1", nil)
	newImp, _ := url.Parse(res.Header.Get("Location"))
	before := e.call(request{Method: "GET", Path: "/v1/stats/funnel", Token: e.readToken}).JSON(t)

	n, err := e.st.ScrubOldScans(context.Background(), e.clock.Now().Add(-90*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("scrubbed %d, %v; want the one old scan", n, err)
	}
	old := e.call(request{Method: "GET", Path: "/v1/impressions/" + oldImp.Query().Get("imp"), Token: e.readToken}).JSON(t)
	if old["user_agent"] != nil || old["referrer"] != nil || old["placement_id"] != p.id {
		t.Fatalf("old scan after retention: %v", old)
	}
	if fresh := e.call(request{Method: "GET", Path: "/v1/impressions/" + newImp.Query().Get("imp"), Token: e.readToken}).JSON(t); fresh["user_agent"] != iPhone {
		t.Fatalf("a recent scan lost its data: %v", fresh)
	}
	after := e.call(request{Method: "GET", Path: "/v1/stats/funnel", Token: e.readToken}).JSON(t)
	if after["impressions"] != before["impressions"] {
		t.Fatalf("counts changed: %v → %v", before["impressions"], after["impressions"])
	}
	backup := e.call(request{Method: "GET", Path: "/v1/admin/backup", Token: adminToken}).Body
	if bytes.Contains(backup, []byte("Retained/1.0")) || bytes.Contains(backup, []byte("old.example")) {
		t.Fatal("the old scan's user agent or referrer is still in the store")
	}
	if n, _ := e.st.ScrubOldScans(context.Background(), e.clock.Now().Add(-90*24*time.Hour)); n != 0 {
		t.Fatalf("a second sweep scrubbed %d again", n)
	}
}

func TestPrintablePosters(t *testing.T) {
	e := newEnv(t)
	p := e.poster(t)
	print := func(token string, body map[string]any, header map[string]string) response {
		return e.call(request{Method: "POST", Path: "/v1/ambassadors/" + p.ambassador + "/posters", Token: token, Body: body, Header: header})
	}
	pagesOf := func(pdf []byte) int {
		pages := 0
		for _, line := range strings.Split(string(pdf), "\n") {
			if strings.Contains(line, "/Type /Page") && !strings.Contains(line, "/Type /Pages") {
				pages++
			}
		}
		return pages
	}
	sheet := map[string]any{"program_id": p.program, "count": 3, "paper": "letter", "label": "Dorm lobby"}
	key := map[string]string{"Idempotency-Key": "print-dorm-1"}
	res := print(adminToken, sheet, key)
	if res.Status != 201 || res.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(res.Body, []byte("%PDF-")) {
		t.Fatalf("posters: %d %v %s", res.Status, res.Header, res.Body)
	}
	if pages := pagesOf(res.Body); pages != 3 {
		t.Fatalf("got %d pages, want 3", pages)
	}
	placements := func() []any {
		return e.call(request{Method: "GET", Path: "/v1/placements?ambassador_id=" + p.ambassador, Token: e.readToken}).JSON(t)["data"].([]any)
	}
	list := placements()
	if len(list) != 4 || list[0].(map[string]any)["label"] != "Dorm lobby" {
		t.Fatalf("placements after printing 3: %d, newest %v", len(list), list[0])
	}
	// A retry with the key prints the same posters and makes none.
	again := print(adminToken, sheet, key)
	if again.Status != 201 || again.Header.Get("Idempotent-Replayed") != "true" || pagesOf(again.Body) != 3 {
		t.Fatalf("retry: %d %v", again.Status, again.Header)
	}
	for _, pl := range list[:3] {
		code := pl.(map[string]any)["code"].(string)
		if !strings.Contains(pdfText(t, res.Body), code) || !strings.Contains(pdfText(t, again.Body), code) {
			t.Fatalf("poster %s is not on both the first and the retried sheet", code)
		}
	}
	if n := len(placements()); n != 4 {
		t.Fatalf("%d placements after a retry, want still 4", n)
	}
	wantProblem(t, print(adminToken, map[string]any{"program_id": p.program, "count": 2}, key), 422, "idempotency_key_reused")
	// Printing is a POST: a GET (a link prefetcher, say) makes nothing.
	if res := e.call(request{Method: "GET", Path: "/v1/ambassadors/" + p.ambassador + "/posters", Token: adminToken}); res.Status != 405 {
		t.Fatalf("GET posters: %d, want 405", res.Status)
	}
	wantProblem(t, print(e.writeToken, map[string]any{"program_id": p.program}, nil), 403, "forbidden")
	for field, body := range map[string]map[string]any{
		"program_id": {},
		"count":      {"program_id": p.program, "count": 51},
		"paper":      {"program_id": p.program, "paper": "a3"},
		"cta":        {"program_id": p.program, "cta": strings.Repeat("x", 61)},
		"label":      {"program_id": p.program, "label": "Dorm\x00lobby"}, // as POST /v1/placements checks it
	} {
		if fields := wantProblem(t, print(adminToken, body, nil), 400, "validation_failed"); fields[field] == "" {
			t.Errorf("%v: problems %v, want one for %s", body, fields, field)
		}
	}
	// The call to action follows the design's rules: at most 60
	// characters, not bytes, and no control characters.
	if fields := wantProblem(t, print(adminToken, map[string]any{"program_id": p.program, "cta": "Scan\x00now"}, nil), 400, "validation_failed"); fields["cta"] != "invalid_value" {
		t.Errorf("a control character in cta: %v", fields)
	}
	if res := print(adminToken, map[string]any{"program_id": p.program, "cta": strings.Repeat("é", 60)}, nil); res.Status != 201 {
		t.Errorf("a 60-character cta of 120 bytes: %d %s", res.Status, res.Body)
	}
	for _, amb := range []string{"amb_01jdq3f7k8m2n4p6r8t0v2x4z6", "not-an-id"} {
		wantProblem(t, e.call(request{Method: "POST", Path: "/v1/ambassadors/" + amb + "/posters", Token: adminToken,
			Body: map[string]any{"program_id": p.program}}), 404, "not_found")
	}
}

// pdfText is the text of a PDF as poppler's pdftotext reads it (make
// test-deps installs it): posters are set in embedded fonts, whose
// content streams hold glyph numbers rather than letters.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	cmd := exec.Command("pdftotext", "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

func TestScanKeepsTheLandingQueryAsWritten(t *testing.T) {
	e := newEnv(t)
	p := e.post("/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com/join?utm_source=poster&b=2;c=3;imp=old&a=1&a=0&imp=stale"})
	a := e.post("/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": "amb-q@example.com"})
	pl := e.post("/v1/placements", map[string]any{"program_id": p["id"], "ambassador_id": a["id"]})
	res := e.scan(pl["code"].(string), iPhone, "198.51.100.30:1", nil)
	loc := res.Header.Get("Location")
	imp, ok := strings.CutPrefix(loc, "https://example.com/join?utm_source=poster&b=2;c=3&a=1&a=0&imp=")
	if strings.Count(loc, "imp=") != 1 {
		ok = false
	}
	if res.Status != 302 || !ok || !strings.HasPrefix(imp, "imp_") {
		t.Fatalf("redirect: %d %q; want the landing query kept in order, imp replaced", res.Status, loc)
	}
}
