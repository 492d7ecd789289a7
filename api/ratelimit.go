package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/referrald/referrald/model"
)

// Bucket is a token bucket's shape: Rate tokens a second, holding at most
// Burst.
type Bucket struct {
	Rate  float64
	Burst int
}

// limiter keeps one token bucket per key (an API key, or a client IP).
// Buckets that have refilled completely are no different from new ones,
// so they are dropped when the map grows, which bounds its memory by the
// number of clients active within one refill period.
type limiter struct {
	shape   Bucket
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets caps the map even when many clients are active at once; past
// it, full buckets are dropped first, then arbitrary ones (a dropped
// client starts again with a full bucket, which is the safe way to err).
const maxBuckets = 100_000

func newLimiter(shape Bucket, now func() time.Time) *limiter {
	return &limiter{shape: shape, now: now, buckets: map[string]*bucket{}}
}

// verdict is what one request learned about its bucket.
type verdict struct {
	allowed   bool
	limit     int
	remaining int
	// untilFull is how long until the bucket is full again.
	untilFull time.Duration
	// retryAfter is how long until the request's tokens are available,
	// when refused.
	retryAfter time.Duration
}

// take spends n tokens of key's bucket, if it has them. n is at most the
// bucket's size, so that a small bucket still lets a costly request
// through when full.
func (l *limiter) take(key string, n int) verdict {
	now := l.now()
	rate, burst := l.shape.Rate, float64(l.shape.Burst)
	cost := float64(min(max(n, 1), l.shape.Burst))
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.evict(now)
		}
		b = &bucket{tokens: burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(burst, b.tokens+elapsed*rate)
	}
	b.last = now
	v := verdict{limit: l.shape.Burst}
	if b.tokens >= cost {
		b.tokens -= cost
		v.allowed = true
	} else {
		v.retryAfter = seconds((cost - b.tokens) / rate)
	}
	v.remaining = int(b.tokens)
	v.untilFull = seconds((burst - b.tokens) / rate)
	l.mu.Unlock()
	return v
}

// give adds a token back to key's bucket, up to its size.
func (l *limiter) give(key string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return // dropped since, so full again
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens += elapsed * l.shape.Rate
	}
	b.last = now
	b.tokens = math.Min(float64(l.shape.Burst), b.tokens+1)
}

// Limiter is a token bucket per key, like the API's own, for limits kept
// outside its routes: the console's failed sign-ins.
type Limiter struct{ l *limiter }

// NewLimiter returns a Limiter whose buckets have shape; now is its
// clock, time.Now when nil.
func NewLimiter(shape Bucket, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{newLimiter(shape, now)}
}

// Take spends a token of key's bucket and reports true, or, when the
// bucket is empty, reports false and how long until it holds a token.
func (l *Limiter) Take(key string) (bool, time.Duration) {
	v := l.l.take(key, 1)
	return v.allowed, v.retryAfter
}

// Return gives back a token Take spent, for a request that turned out
// not to count against the limit (a sign-in that succeeded).
func (l *Limiter) Return(key string) { l.l.give(key) }

// evict makes room in one pass down to 90 % of maxBuckets, so the next
// new clients do not each pay for a scan: full buckets go first, then, if
// still needed, any (a dropped client starts again full, the safe way to
// err).
func (l *limiter) evict(now time.Time) {
	const target = maxBuckets * 9 / 10
	full := time.Duration(float64(l.shape.Burst) / l.shape.Rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) <= target {
			break
		}
		delete(l.buckets, k)
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// ceilSeconds rounds up to whole seconds, as the headers count them.
func ceilSeconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }

// setRateLimitHeaders writes both the X-RateLimit-* fields clients know
// and the IETF draft (httpapi-ratelimit-headers, draft 10) fields.
func setRateLimitHeaders(h http.Header, v verdict, shape Bucket, now time.Time) {
	window := int64(math.Ceil(float64(shape.Burst) / shape.Rate))
	reset := ceilSeconds(v.untilFull)
	h.Set("X-RateLimit-Limit", strconv.Itoa(v.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(v.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(unixCeil(now.Add(v.untilFull)), 10))
	h.Set("RateLimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, v.limit, window))
	h.Set("RateLimit", fmt.Sprintf(`"default";r=%d;t=%d`, v.remaining, reset))
	if !v.allowed {
		h.Set("Retry-After", strconv.FormatInt(max(1, ceilSeconds(v.retryAfter)), 10))
	}
}

// unixCeil is t in Unix seconds rounded up, so a client that waits until
// then never finds the bucket short.
func unixCeil(t time.Time) int64 {
	if t.Nanosecond() > 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}

func rateLimited(v verdict) error {
	return model.Errorf(model.ERateLimited, "too many requests; retry in %d s", max(1, ceilSeconds(v.retryAfter)))
}
