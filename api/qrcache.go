package api

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
)

// qrKey is what a QR image depends on: the same key always draws the same
// bytes, since a placement's code, and so its scan URL, never changes.
type qrKey struct {
	format, url, level string
	size, margin       int
}

// qrImage is a drawn QR image and its entity tag.
type qrImage struct {
	key  qrKey
	body []byte
	etag string
}

func newQRImage(key qrKey, body []byte) *qrImage {
	// A hash of the bytes, not of the key: a tag stays true across
	// restarts and across changes to how images are drawn.
	sum := sha256.Sum256(body)
	return &qrImage{key: key, body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// qrCacheBytes bounds the cache: thousands of images, the largest PNG
// being a few KB and an SVG a few tens.
const qrCacheBytes = 8 << 20

// qrCache keeps the most recently used QR images, up to maxBytes in all,
// so that asking again for an image costs no drawing.
type qrCache struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	entries  map[qrKey]*list.Element
	order    *list.List // of *qrImage, most recently used first
}

func newQRCache(maxBytes int) *qrCache {
	return &qrCache{maxBytes: maxBytes, entries: map[qrKey]*list.Element{}, order: list.New()}
}

// cost is what an image holds of the cache's budget.
func (img *qrImage) cost() int { return len(img.body) + len(img.key.url) + 128 }

func (c *qrCache) get(k qrKey) (*qrImage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*qrImage), true
}

// add keeps img, dropping the least recently used images past the budget.
func (c *qrCache) add(img *qrImage) {
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
		old := c.order.Remove(c.order.Back()).(*qrImage)
		delete(c.entries, old.key)
		c.bytes -= old.cost()
	}
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
