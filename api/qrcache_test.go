package api

import (
	"bytes"
	"fmt"
	"testing"
)

// The cache holds at most its budget, dropping the least recently used.
func TestQRCacheIsBoundedLRU(t *testing.T) {
	img := func(i int) *qrImage {
		return newQRImage(qrKey{format: "png", url: fmt.Sprintf("https://go.example.edu/s/%010d", i), level: "M", size: 512, margin: 4},
			bytes.Repeat([]byte{byte(i)}, 1000))
	}
	per := img(0).cost()
	c := newQRCache(3 * per)
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
		if got, ok := c.get(img(i).key); !ok || !bytes.Equal(got.body, img(i).body) || got.etag != img(i).etag {
			t.Errorf("image %d: got %v, want it kept", i, ok)
		}
	}
	if c.bytes > c.maxBytes || len(c.entries) != 3 || c.order.Len() != 3 {
		t.Errorf("got %d bytes in %d entries (%d in order), want at most %d in 3", c.bytes, len(c.entries), c.order.Len(), c.maxBytes)
	}
	huge := newQRImage(qrKey{format: "svg"}, make([]byte, 4*per))
	c.add(huge)
	if _, ok := c.get(huge.key); ok || len(c.entries) != 3 {
		t.Error("an image larger than the whole budget is kept")
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
