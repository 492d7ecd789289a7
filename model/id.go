package model

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// ID prefixes, one per kind of record.
const (
	PrefixProgram    = "prg"
	PrefixAmbassador = "amb"
	PrefixPlacement  = "plc"
	PrefixImpression = "imp"
	PrefixReferral   = "ref"
	PrefixEarning    = "ern"
	PrefixAPIKey     = "key"
	PrefixEvent      = "evt"
	PrefixPrintRun   = "prn"
)

// IDGenerator makes IDs that sort by creation time, strictly increasing
// even within one millisecond, so the order of keys in the store is the order
// in which records were created.
type IDGenerator struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
}

// NewIDGenerator returns a generator seeded from crypto/rand.
func NewIDGenerator() *IDGenerator {
	return &IDGenerator{entropy: ulid.Monotonic(rand.Reader, 0)}
}

// New returns the 16 bytes of a new ULID for time t.
func (g *IDGenerator) New(t time.Time) [16]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	id, err := ulid.New(ulid.Timestamp(t), g.entropy)
	if err != nil {
		// Only reachable if crypto/rand fails or 2^80 IDs are made in one
		// millisecond; neither leaves a sane way to go on.
		panic("referrald: cannot generate ID: " + err.Error())
	}
	return id
}

// FormatID renders a ULID as "<prefix>_<lowercase ULID>".
func FormatID(prefix string, id [16]byte) string {
	return prefix + "_" + strings.ToLower(ulid.ULID(id).String())
}

// ParseID returns the ULID bytes of an ID with the given prefix. It accepts
// the ULID part in either case, as Crockford base32 does.
func ParseID(prefix, s string) ([16]byte, bool) {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != ulid.EncodedSize {
		return [16]byte{}, false
	}
	id, err := ulid.ParseStrict(rest)
	if err != nil {
		return [16]byte{}, false
	}
	return id, true
}

// IDTime returns the creation time encoded in an ID's ULID.
func IDTime(id [16]byte) time.Time { return ulid.Time(ulid.ULID(id).Time()) }

// TimeKey is the smallest ULID of instant t: every ID created at or after
// t sorts at or after it, so it bounds a walk by time.
func TimeKey(t time.Time) [16]byte {
	var k [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		k[i] = byte(ms)
		ms >>= 8
	}
	return k
}

// CanonicalID returns v in its canonical form if it is an ID with one of
// prefixes, else "".
func CanonicalID(v string, prefixes ...string) string {
	for _, p := range prefixes {
		if k, ok := ParseID(p, v); ok {
			return FormatID(p, k)
		}
	}
	return ""
}
