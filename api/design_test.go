package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/referrald/referrald/model"
	printing "github.com/referrald/referrald/poster"
	"github.com/referrald/referrald/poster/postertest"
)

// testImage is a w×h picture with some colour in it, encoded by enc.
func testImage(t *testing.T, w, h int, enc func(*bytes.Buffer, image.Image) error) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), 80, uint8(y * 255 / h), 255})
		}
	}
	var buf bytes.Buffer
	if err := enc(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodePNG(b *bytes.Buffer, img image.Image) error  { return png.Encode(b, img) }
func encodeJPEG(b *bytes.Buffer, img image.Image) error { return jpeg.Encode(b, img, nil) }
func encodeGIF(b *bytes.Buffer, img image.Image) error  { return gif.Encode(b, img, nil) }

// pngClaiming is a tiny PNG whose header claims w×h pixels: a
// decompression bomb, as far as a decoder that believed it would know.
func pngClaiming(t *testing.T, w, h uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// The signature (8 bytes), IHDR's length and type (8), then its width
	// and height, and its CRC over type and data.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// designPath is the design route of a program.
func designPath(programID string) string { return "/v1/programs/" + programID + "/poster_design" }

// putLogo uploads body as the program's logo with Content-Type ct.
func (e *env) putLogo(programID, token, ct string, body []byte) response {
	e.t.Helper()
	return e.call(request{Method: "PUT", Path: designPath(programID) + "/logo", Token: token, Body: body,
		Header: map[string]string{"Content-Type": ct}})
}

// A program's design starts as the defaults; an admin changes the fields
// sent, each change audited; every mistake is a field error, with
// nothing changed.
func TestPosterDesignGetAndUpdate(t *testing.T) {
	e := newEnv(t)
	prg := e.post("/v1/programs", map[string]any{"name": "Spring", "landing_url": "https://example.com/join"})["id"].(string)
	path := designPath(prg)

	got := e.call(request{Method: "GET", Path: path, Token: e.readToken}).JSON(t)
	if got["accent_color"] != model.DefaultAccentColor || got["call_to_action"] != model.DefaultCallToAction ||
		got["logo"] != nil || got["updated_at"] != nil || got["show_ambassador_name"] != false {
		t.Fatalf("a new program's design: %v, want the defaults", got)
	}
	res := e.call(request{Method: "PATCH", Path: path, Token: adminToken, Body: map[string]any{
		"accent_color": " #FF6600 ", "headline": "Boxes for students", "incentive": "Get 20 % off", "show_ambassador_name": true,
		"signup_redirect_url": "https://shop.example/welcome"}})
	got = res.JSON(t)
	if res.Status != http.StatusOK || got["accent_color"] != "#ff6600" || got["headline"] != "Boxes for students" ||
		got["show_ambassador_name"] != true || got["call_to_action"] != model.DefaultCallToAction || got["updated_at"] == nil {
		t.Fatalf("PATCH: %d %v", res.Status, got)
	}
	if again := e.call(request{Method: "GET", Path: path, Token: e.readToken}).JSON(t); again["incentive"] != "Get 20 % off" {
		t.Fatalf("GET after PATCH: %v", again)
	}
	audit, err := e.st.FindAudit(context.Background(), model.AuditFilter{Subject: prg, Action: "poster_design.updated"})
	if err != nil || len(audit.Data) != 1 || audit.Data[0].Actor.Kind != model.ActorAdminToken {
		t.Fatalf("audit: %+v %v, want one change by the admin token", audit.Data, err)
	}

	for name, tc := range map[string]struct {
		body  map[string]any
		field string
		code  string
	}{
		"unknown field":       {map[string]any{"accent_colour": "#000000"}, "accent_colour", model.FUnknownField},
		"bad colour":          {map[string]any{"accent_color": "orange"}, "accent_color", model.FInvalidValue},
		"Han headline":        {map[string]any{"headline": "王的海报"}, "headline", model.FInvalidValue},
		"long call to action": {map[string]any{"call_to_action": strings.Repeat("x", 61)}, "call_to_action", model.FTooLong},
		"logo in QR, no logo": {map[string]any{"logo_in_qr": true}, "logo_in_qr", model.FInvalidValue},
		"null setting":        {map[string]any{"show_ambassador_name": nil}, "show_ambassador_name", model.FInvalidType},
		"script redirect":     {map[string]any{"signup_redirect_url": "javascript:alert(1)"}, "signup_redirect_url", model.FInvalidURL},
	} {
		t.Run(name, func(t *testing.T) {
			fields := wantProblem(t, e.call(request{Method: "PATCH", Path: path, Token: adminToken, Body: tc.body}), 400, "validation_failed")
			if fields[tc.field] != tc.code {
				t.Errorf("got %v, want %s on %s", fields, tc.code, tc.field)
			}
		})
	}
	if after := e.call(request{Method: "GET", Path: path, Token: e.readToken}).JSON(t); after["accent_color"] != "#ff6600" || after["logo_in_qr"] != false {
		t.Fatalf("refused PATCHes changed the design: %v", after)
	}
	wantProblem(t, e.call(request{Method: "PATCH", Path: path, Token: e.writeToken, Body: map[string]any{"headline": "x"}}), 403, "forbidden")
	wantProblem(t, e.call(request{Method: "PATCH", Path: path, Token: adminToken, Body: "[]"}), 400, "invalid_json")
	unknown := designPath("prg_01jdq3f7k8m2n4p6r8t0v2x4z6")
	wantProblem(t, e.call(request{Method: "GET", Path: unknown, Token: e.readToken}), 404, "not_found")
	wantProblem(t, e.call(request{Method: "PATCH", Path: unknown, Token: adminToken, Body: map[string]any{"headline": "x"}}), 404, "not_found")
}

// A logo is uploaded as the image itself, kept as a PNG of its pixels,
// served with a tag, and removed; anything that is not a small PNG or
// JPEG is refused before it is kept.
func TestPosterLogo(t *testing.T) {
	e := newEnv(t)
	prg := e.post("/v1/programs", map[string]any{"name": "Spring", "landing_url": "https://example.com/join"})["id"].(string)
	logoPath := designPath(prg) + "/logo"
	wantProblem(t, e.call(request{Method: "GET", Path: logoPath, Token: e.readToken}), 404, "not_found")

	for name, tc := range map[string]struct {
		ct     string
		body   []byte
		status int
		code   string
	}{
		"JSON":              {"application/json", []byte(`{"logo":"x"}`), 415, "unsupported_media_type"},
		"a GIF, said so":    {"image/gif", testImage(t, 8, 8, encodeGIF), 415, "unsupported_media_type"},
		"no type":           {"", testImage(t, 8, 8, encodePNG), 415, "unsupported_media_type"},
		"too large":         {"image/png", make([]byte, printing.MaxLogoBytes+1), 413, "body_too_large"},
		"a GIF, called PNG": {"image/png", testImage(t, 8, 8, encodeGIF), 400, "validation_failed"},
		"text":              {"image/jpeg", []byte("this is not a picture"), 400, "validation_failed"},
		"a bomb":            {"image/png", pngClaiming(t, 50000, 50000), 400, "validation_failed"},
	} {
		t.Run(name, func(t *testing.T) {
			fields := wantProblem(t, e.putLogo(prg, adminToken, tc.ct, tc.body), tc.status, tc.code)
			if tc.code == "validation_failed" && fields["logo"] != model.FInvalidValue {
				t.Errorf("got %v, want invalid_value on logo", fields)
			}
		})
	}
	bomb := e.putLogo(prg, adminToken, "image/png", pngClaiming(t, 50000, 50000))
	if !bytes.Contains(bomb.Body, []byte("at most 4096")) {
		t.Errorf("a bomb: %s, want the pixel limit named", bomb.Body)
	}
	wantProblem(t, e.putLogo(prg, e.readToken, "image/png", testImage(t, 8, 8, encodePNG)), 403, "forbidden")
	if got := e.call(request{Method: "GET", Path: designPath(prg), Token: e.readToken}).JSON(t); got["logo"] != nil {
		t.Fatalf("refused uploads left a logo: %v", got)
	}

	res := e.putLogo(prg, adminToken, "image/jpeg; charset=binary", testImage(t, 120, 40, encodeJPEG))
	got := res.JSON(t)
	logo, _ := got["logo"].(map[string]any)
	if res.Status != http.StatusOK || logo["width"] != 120.0 || logo["height"] != 40.0 {
		t.Fatalf("PUT a JPEG: %d %v", res.Status, got)
	}
	res = e.call(request{Method: "GET", Path: logoPath, Token: e.readToken})
	img, err := png.Decode(bytes.NewReader(res.Body))
	if res.Status != http.StatusOK || err != nil || img.Bounds().Dx() != 120 || img.Bounds().Dy() != 40 || float64(len(res.Body)) != logo["bytes"] {
		t.Fatalf("GET the logo: %d %v %v, want the 120×40 PNG of %v bytes", res.Status, res.Header, err, logo["bytes"])
	}
	tag := res.Header.Get("ETag")
	if tag == "" || !strings.Contains(res.Header.Get("Cache-Control"), "max-age") {
		t.Fatalf("GET the logo: headers %v, want an ETag and a max-age", res.Header)
	}
	if res := e.call(request{Method: "GET", Path: logoPath, Token: e.readToken, Header: map[string]string{"If-None-Match": tag}}); res.Status != http.StatusNotModified || len(res.Body) != 0 {
		t.Fatalf("GET with its tag: %d, want 304 without a body", res.Status)
	}

	// With a logo, it may go in the QR codes; removing it takes it out.
	res = e.call(request{Method: "PATCH", Path: designPath(prg), Token: adminToken, Body: map[string]any{"logo_in_qr": true}})
	if got := res.JSON(t); res.Status != http.StatusOK || got["logo_in_qr"] != true {
		t.Fatalf("logo_in_qr with a logo: %d %v", res.Status, got)
	}
	res = e.call(request{Method: "DELETE", Path: logoPath, Token: adminToken})
	if got := res.JSON(t); res.Status != http.StatusOK || got["logo"] != nil || got["logo_in_qr"] != false {
		t.Fatalf("DELETE the logo: %d %v", res.Status, got)
	}
	wantProblem(t, e.call(request{Method: "GET", Path: logoPath, Token: e.readToken}), 404, "not_found")
	wantProblem(t, e.call(request{Method: "DELETE", Path: logoPath, Token: e.writeToken}), 403, "forbidden")
	audit, err := e.st.FindAudit(context.Background(), model.AuditFilter{Subject: prg})
	var actions []string
	for _, a := range audit.Data {
		if strings.HasPrefix(a.Action, "poster_design.") {
			actions = append(actions, a.Action)
		}
	}
	if err != nil || strings.Join(actions, " ") != "poster_design.logo_deleted poster_design.updated poster_design.logo_set" {
		t.Fatalf("audit: %v %v, want the upload, the change and the removal, newest first", actions, err)
	}
	wantProblem(t, e.putLogo("prg_01jdq3f7k8m2n4p6r8t0v2x4z6", adminToken, "image/png", testImage(t, 8, 8, encodePNG)), 404, "not_found")
}

// Posters are laid out as asked, each cell a placement of its own; a
// name the design shows but the fonts cannot print refuses the request
// Four flyers for an ambassador print on one page, and its four codes
// scan, as a phone reads them off the printed page, to the scan URLs of
// that ambassador's four new placements.
func TestFlyersPrintFourNewCodesOnOnePage(t *testing.T) {
	e := newEnv(t)
	p := e.poster(t)
	codes := func() []string {
		var got []string
		for _, pl := range e.call(request{Method: "GET", Path: "/v1/placements?limit=100&ambassador_id=" + p.ambassador, Token: e.readToken}).JSON(t)["data"].([]any) {
			got = append(got, pl.(map[string]any)["code"].(string))
		}
		return got
	}
	before := codes()
	res := e.call(request{Method: "POST", Path: "/v1/ambassadors/" + p.ambassador + "/posters", Token: adminToken,
		Body: map[string]any{"program_id": p.program, "layout": "flyer4", "count": 4}})
	if res.Status != http.StatusCreated {
		t.Fatalf("flyer4: %d %s", res.Status, res.Body)
	}
	var want []string
	for _, code := range codes() {
		if !slices.Contains(before, code) {
			want = append(want, publicBaseURL+"/s/"+code)
		}
	}
	slices.Sort(want)
	pages := postertest.Rasterise(t, res.Body, 150, "")
	if len(pages) != 1 {
		t.Fatalf("flyer4 of 4: %d pages, want 1", len(pages))
	}
	if got := postertest.FindCodes(t, pages[0]); len(want) != 4 || !slices.Equal(got, want) {
		t.Fatalf("the page's codes scan to %q, want the 4 new placements' %q", got, want)
	}
}

// before anything is made.
func TestPostersLayoutAndDesign(t *testing.T) {
	e := newEnv(t)
	p := e.poster(t)
	print := func(ambassador string, body map[string]any, header map[string]string) response {
		return e.call(request{Method: "POST", Path: "/v1/ambassadors/" + ambassador + "/posters", Token: adminToken, Body: body, Header: header})
	}
	count := func(ambassador string) int {
		return len(e.call(request{Method: "GET", Path: "/v1/placements?limit=100&ambassador_id=" + ambassador, Token: e.readToken}).JSON(t)["data"].([]any))
	}
	before := count(p.ambassador)
	key := map[string]string{"Idempotency-Key": "flyers-1"}
	res := print(p.ambassador, map[string]any{"program_id": p.program, "layout": "flyer4", "count": 4, "cta": "Ask me"}, key)
	if res.Status != http.StatusCreated || res.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(res.Body, []byte("%PDF-")) {
		t.Fatalf("flyer4: %d %v", res.Status, res.Header)
	}
	if n := count(p.ambassador); n != before+4 {
		t.Fatalf("flyer4 of 4: %d placements, want %d", n, before+4)
	}
	// The key's fingerprint holds the layout: the same request as
	// stickers is another request.
	wantProblem(t, print(p.ambassador, map[string]any{"program_id": p.program, "layout": "stickers8", "count": 4, "cta": "Ask me"}, key),
		422, "idempotency_key_reused")
	for field, body := range map[string]map[string]any{
		"layout": {"program_id": p.program, "layout": "a3-poster"},
		"label":  {"program_id": p.program, "label": "图书馆"},
		"cta":    {"program_id": p.program, "cta": "סרקו אותי"},
	} {
		if fields := wantProblem(t, print(p.ambassador, body, nil), 400, "validation_failed"); fields[field] != model.FInvalidValue {
			t.Errorf("%v: got %v, want invalid_value on %s", body, fields, field)
		}
	}

	wang := e.post("/v1/ambassadors", map[string]any{"first_name": "王", "last_name": "Fang", "email": "wang@uni.example"})["id"].(string)
	if res := print(wang, map[string]any{"program_id": p.program}, nil); res.Status != http.StatusCreated {
		t.Fatalf("a name the design does not show: %d %s", res.Status, res.Body)
	}
	e.call(request{Method: "PATCH", Path: designPath(p.program), Token: adminToken, Body: map[string]any{"show_ambassador_name": true}})
	res = print(wang, map[string]any{"program_id": p.program, "count": 3}, nil)
	if fields := wantProblem(t, res, 400, "validation_failed"); fields["ambassador_id"] != model.FInvalidValue ||
		!bytes.Contains(res.Body, []byte("turn off show_ambassador_name")) {
		t.Fatalf("a name the design shows and cannot print: %s", res.Body)
	}
	if n := count(wang); n != 1 {
		t.Fatalf("the refused request made placements: %d, want the 1 from before", n)
	}
	if res := print(p.ambassador, map[string]any{"program_id": p.program, "layout": "TEAROFF"}, nil); res.Status != http.StatusCreated {
		t.Fatalf("tearoff with a printable name: %d %s", res.Status, res.Body)
	}
}

// decodePreview reads the QR code in a preview, as a phone would: one
// of a picture's codes, wherever it is.
func decodePreview(t *testing.T, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("no QR code in the preview: %v", err)
	}
	return res.GetText()
}

// The preview is a PNG of sample posters whose code scans to the scan
// base; its tag changes with the design and answers a 304 until then.
func TestPosterPreview(t *testing.T) {
	e := newEnv(t)
	prg := e.post("/v1/programs", map[string]any{"name": "Spring", "landing_url": "https://example.com/join"})["id"].(string)
	path := "/v1/programs/" + prg + "/poster_preview.png"
	res := e.call(request{Method: "GET", Path: path + "?width=800", Token: e.readToken})
	if res.Status != http.StatusOK || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("preview: %d %v", res.Status, res.Header)
	}
	if got := decodePreview(t, res.Body); !strings.HasPrefix(got, publicBaseURL+"/s/"+printing.PreviewCodePrefix) {
		t.Fatalf("the preview's code scans to %q, want a sample code under %s", got, publicBaseURL)
	}
	// At the default width, every layout's preview still scans.
	for _, layout := range printing.Layouts {
		res := e.call(request{Method: "GET", Path: path + "?layout=" + string(layout), Token: e.readToken})
		if res.Status != http.StatusOK {
			t.Fatalf("%s preview: %d %s", layout, res.Status, res.Body)
		}
		if got := decodePreview(t, res.Body); !strings.HasPrefix(got, publicBaseURL+"/s/"+printing.PreviewCodePrefix) {
			t.Fatalf("the %s preview's code scans to %q", layout, got)
		}
	}
	tag := res.Header.Get("ETag")
	if res := e.call(request{Method: "GET", Path: path + "?width=800", Token: e.readToken, Header: map[string]string{"If-None-Match": tag}}); res.Status != http.StatusNotModified {
		t.Fatalf("the preview with its tag: %d, want 304", res.Status)
	}
	if other := e.call(request{Method: "GET", Path: path + "?layout=flyer4&paper=letter", Token: e.readToken}); other.Status != http.StatusOK || other.Header.Get("ETag") == tag {
		t.Fatalf("another layout: %d, tag %s (the first was %s)", other.Status, other.Header.Get("ETag"), tag)
	}
	e.call(request{Method: "PATCH", Path: designPath(prg), Token: adminToken, Body: map[string]any{"accent_color": "#aa0000"}})
	res = e.call(request{Method: "GET", Path: path + "?width=800", Token: e.readToken, Header: map[string]string{"If-None-Match": tag}})
	if res.Status != http.StatusOK || res.Header.Get("ETag") == tag {
		t.Fatalf("after a design change: %d with tag %s, want 200 with a new tag", res.Status, res.Header.Get("ETag"))
	}
	for query, field := range map[string]string{"?width=100": "width", "?width=2001": "width", "?width=wide": "width",
		"?layout=banner": "layout", "?paper=a3": "paper", "?size=10": "size"} {
		if fields := wantProblem(t, e.call(request{Method: "GET", Path: path + query, Token: e.readToken}), 400, "validation_failed"); fields[field] == "" {
			t.Errorf("%s: got %v, want a problem with %s", query, fields, field)
		}
	}
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/programs/prg_01jdq3f7k8m2n4p6r8t0v2x4z6/poster_preview.png", Token: e.readToken}), 404, "not_found")
	wantProblem(t, e.call(request{Method: "GET", Path: path}), 401, "unauthorized")
}
