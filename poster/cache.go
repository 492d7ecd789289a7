package poster

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// ScanURL is what the QR code of the placement with code carries: the
// scan route under base, the public base URL posters point at.
func ScanURL(base, code string) string { return strings.TrimRight(base, "/") + "/s/" + code }

// Image is a drawn QR image with its entity tag. The API's QR routes and
// the console's both serve images from a Cache.
type Image struct {
	key         imageKey
	Body        []byte
	ETag        string
	ContentType string
}

// imageKey is what an image depends on: the same key always draws the
// same bytes, since a placement's code, and so its scan URL, never
// changes.
type imageKey struct {
	format, text, level string
	size, margin        int
}

func newImage(key imageKey, body []byte) *Image {
	// A hash of the bytes, not of the key: a tag stays true across
	// restarts and across changes to how images are drawn.
	sum := sha256.Sum256(body)
	ct := "image/png"
	if key.format == "svg" {
		ct = "image/svg+xml"
	}
	return &Image{key: key, Body: body, ETag: `"` + hex.EncodeToString(sum[:16]) + `"`, ContentType: ct}
}

// cost is what an image holds of the cache's budget.
func (img *Image) cost() int { return len(img.Body) + len(img.key.text) + 128 }

// Serve writes img as the answer to r: a 304 when the client sent its
// tag back in If-None-Match, else the image. Either way the tag goes
// with it, and the client may keep it a few minutes.
func (img *Image) Serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("ETag", img.ETag)
	h.Set("Cache-Control", "private, max-age=300")
	if noneMatch(strings.Join(r.Header.Values("If-None-Match"), ","), img.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", img.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(img.Body)))
	w.Write(img.Body)
}

// noneMatch reports whether an If-None-Match header names etag (or is
// "*"): the client has the image already. The comparison is weak, as
// RFC 9110 has it for If-None-Match.
func noneMatch(header, etag string) bool {
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}

// DefaultCacheBytes is a cache's budget: thousands of images, the
// largest PNG being a few KB and an SVG a few tens.
const DefaultCacheBytes = 8 << 20

// Cache keeps the most recently used QR images, up to a budget of bytes
// in all, so that asking again for an image costs no drawing. It is safe
// for concurrent use.
type Cache struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	entries  map[imageKey]*list.Element
	order    *list.List // of *Image, most recently used first
}

// NewCache returns an empty cache of at most maxBytes.
func NewCache(maxBytes int) *Cache {
	return &Cache{maxBytes: maxBytes, entries: map[imageKey]*list.Element{}, order: list.New()}
}

// Image returns the QR code of text as format, "png" or "svg", drawn
// with o, which must have passed Check: from the cache, or drawn and
// kept.
func (c *Cache) Image(format, text string, o Options) (*Image, error) {
	key := imageKey{format: format, text: text, level: o.Level, size: o.Size, margin: o.Margin}
	if img, ok := c.get(key); ok {
		return img, nil
	}
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = PNG(&buf, text, o)
	case "svg":
		err = SVG(&buf, text, o)
	default:
		err = fmt.Errorf("poster: no image format %q", format)
	}
	if err != nil {
		return nil, err
	}
	img := newImage(key, buf.Bytes())
	c.add(img)
	return img, nil
}

func (c *Cache) get(k imageKey) (*Image, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*Image), true
}

// add keeps img, dropping the least recently used images past the budget.
func (c *Cache) add(img *Image) {
	if img.cost() > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[img.key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.entries[img.key] = c.order.PushFront(img)
	c.bytes += img.cost()
	for c.bytes > c.maxBytes {
		old := c.order.Remove(c.order.Back()).(*Image)
		delete(c.entries, old.key)
		c.bytes -= old.cost()
	}
}
