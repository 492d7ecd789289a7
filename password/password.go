// Package password hashes console users' passwords with argon2id and
// checks them; Read takes a new one from a terminal or standard input.
//
// A hash is kept as a PHC string that carries its own parameters:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// (salt and hash in unpadded standard base64), so Verify reads the cost a
// password was hashed with from its string, and the cost of new hashes
// can be raised later without making the old ones unreadable: NeedsRehash
// tells which to hash again, at the next sign-in.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	// Memory is in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism.
	Threads uint8
}

// Default are OWASP's recommended argon2id parameters (19 MiB, 2 passes,
// 1 thread): tens of milliseconds a hash on a server core.
var Default = Params{Memory: 19456, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Bounds on what Verify accepts from a stored string, so that a damaged
// one cannot make it allocate gigabytes or spin for minutes.
const (
	maxMemory  = 1 << 20 // 1 GiB
	maxTime    = 64
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 128
	// MaxLen bounds the passwords Hash and Verify take, in bytes: hashing
	// is linear in the length, and model.MaxPasswordLen runes of UTF-8
	// fit.
	MaxLen = 1024
)

// ErrMalformed is Verify's error for a string that is not an argon2id
// hash this package can read.
var ErrMalformed = errors.New("password: not an argon2id hash")

// ErrTooLong is the error for a password longer than MaxLen bytes.
var ErrTooLong = errors.New("password: too long")

// hashing bounds how many hashes run at once in this process: each holds
// Memory KiB (19 MiB by default) while it runs, and a burst of sign-in
// attempts must not turn into a burst of memory. The bound is the
// process's, as its memory is.
var hashing = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

func key(pw, salt []byte, p Params, n uint32) []byte {
	hashing <- struct{}{}
	defer func() { <-hashing }()
	return argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, n)
}

// Hash returns pw's argon2id hash with Default parameters and a fresh
// random salt, as a PHC string.
func Hash(pw string) (string, error) { return HashWith(pw, Default) }

// HashWith is Hash with parameters p.
func HashWith(pw string, p Params) (string, error) {
	if len(pw) > MaxLen {
		return "", ErrTooLong
	}
	if p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 {
		return "", fmt.Errorf("password: bad parameters %+v", p)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	h := key([]byte(pw), salt, p, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(h)), nil
}

// Verify reports whether pw is the password encoded hashes, with the
// parameters, salt and length encoded carries. The hashes are compared
// in constant time. A wrong password is (false, nil); an error means
// encoded cannot be read (ErrMalformed) or pw is too long (ErrTooLong).
func Verify(pw, encoded string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxLen {
		return false, ErrTooLong
	}
	got := key([]byte(pw), salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was made with other parameters than
// Default (or cannot be read): its password should be hashed again, with
// Default, when it is next known.
func NeedsRehash(encoded string) bool {
	p, salt, h, err := decode(encoded)
	return err != nil || p != Default || len(salt) != saltLen || len(h) != keyLen
}

// decode parses a PHC argon2id string.
func decode(encoded string) (p Params, salt, hash []byte, err error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, ErrMalformed
	}
	var seen [3]bool
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, ErrMalformed
	}
	for _, kv := range params {
		name, val, ok := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(val, 10, 32)
		if !ok || perr != nil {
			return p, nil, nil, ErrMalformed
		}
		switch {
		case name == "m" && !seen[0] && n <= maxMemory:
			p.Memory, seen[0] = uint32(n), true
		case name == "t" && !seen[1] && n >= 1 && n <= maxTime:
			p.Time, seen[1] = uint32(n), true
		case name == "p" && !seen[2] && n >= 1 && n <= 255:
			p.Threads, seen[2] = uint8(n), true
		default:
			return p, nil, nil, ErrMalformed
		}
	}
	if p.Memory < 8*uint32(p.Threads) {
		return p, nil, nil, ErrMalformed
	}
	salt, err1 := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	hash, err2 := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen || len(hash) < minKeyLen || len(hash) > maxKeyLen {
		return p, nil, nil, ErrMalformed
	}
	return p, salt, hash, nil
}
