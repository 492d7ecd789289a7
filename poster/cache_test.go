package poster

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The cache holds at most its budget, dropping the least recently used.
func TestCacheIsBoundedLRU(t *testing.T) {
	img := func(i int) *Image {
		return newImage(imageKey{format: "png", text: fmt.Sprintf("https://go.example.edu/s/%010d", i), level: "M", size: 512, margin: 4},
			bytes.Repeat([]byte{byte(i)}, 1000))
	}
	per := img(0).cost()
	c := NewCache(3 * per)
	for i := range 3 {
		c.add(img(i))
	}
	if _, ok := c.get(img(0).key); !ok { // 0 is now the most recently used
		t.Fatal("image 0 is not kept")
	}
	c.add(img(3))
	if _, ok := c.get(img(1).key); ok {
		t.Error("image 1, the least recently used, is still kept past the budget")
	}
	for _, i := range []int{0, 2, 3} {
		if got, ok := c.get(img(i).key); !ok || !bytes.Equal(got.Body, img(i).Body) || got.ETag != img(i).ETag {
			t.Errorf("image %d: got %v, want it kept", i, ok)
		}
	}
	if c.bytes > c.maxBytes || len(c.entries) != 3 || c.order.Len() != 3 {
		t.Errorf("got %d bytes in %d entries (%d in order), want at most %d in 3", c.bytes, len(c.entries), c.order.Len(), c.maxBytes)
	}
	huge := newImage(imageKey{format: "svg"}, make([]byte, 4*per))
	c.add(huge)
	if _, ok := c.get(huge.key); ok || len(c.entries) != 3 {
		t.Error("an image larger than the whole budget is kept")
	}
}

// Image draws once and then answers from the cache; Serve answers a
// client that has the image with a 304.
func TestCacheImageAndServe(t *testing.T) {
	c := NewCache(DefaultCacheBytes)
	o := Options{Margin: DefaultMargin}
	if err := o.Check(); err != nil {
		t.Fatal(err)
	}
	url := ScanURL("https://go.example.edu/", "k7m2p9x4qa")
	if url != "https://go.example.edu/s/k7m2p9x4qa" {
		t.Fatalf("ScanURL: got %q", url)
	}
	first, err := c.Image("png", url, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, first.Body); got != url {
		t.Fatalf("decoded %q, want %q", got, url)
	}
	again, _ := c.Image("png", url, o)
	svg, _ := c.Image("svg", url, o)
	if again != first || svg == first || svg.ContentType != "image/svg+xml" {
		t.Errorf("the same image is drawn twice, or an SVG is not one")
	}
	if _, err := c.Image("gif", url, o); err == nil {
		t.Error("a gif was drawn")
	}

	w := httptest.NewRecorder()
	first.Serve(w, httptest.NewRequest("GET", "/qr.png", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/png" || w.Header().Get("ETag") != first.ETag ||
		!bytes.Equal(w.Body.Bytes(), first.Body) {
		t.Fatalf("got %d %v", w.Code, w.Header())
	}
	req := httptest.NewRequest("GET", "/qr.png", nil)
	req.Header.Set("If-None-Match", first.ETag)
	w = httptest.NewRecorder()
	first.Serve(w, req)
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("with its tag: got %d and %d bytes, want 304 and none", w.Code, w.Body.Len())
	}
}

func TestNoneMatch(t *testing.T) {
	const etag = `"0123456789abcdef0123456789abcdef"`
	for header, want := range map[string]bool{
		etag: true, "W/" + etag: true, `"a", ` + etag: true, " " + etag + " ": true, "*": true,
		"": false, `"a"`: false, etag[1 : len(etag)-1]: false, `W/"a"`: false,
	} {
		if got := noneMatch(header, etag); got != want {
			t.Errorf("If-None-Match %q: got %v, want %v", header, got, want)
		}
	}
}
