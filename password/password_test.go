package password

import (
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestHashAndVerify(t *testing.T) {
	h, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("got %q, want a PHC argon2id string with OWASP's parameters, 16 bytes of salt and 32 of hash", h)
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"Correct horse battery staple", false},
		{"", false},
	} {
		ok, err := Verify(c.pw, h)
		if err != nil || ok != c.want {
			t.Errorf("Verify(%q): got %v, %v; want %v", c.pw, ok, err, c.want)
		}
	}
	again, _ := Hash("correct horse battery staple")
	if again == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if NeedsRehash(h) {
		t.Error("a fresh hash needs rehashing")
	}
}

// The reference implementation's argon2id test vector (its test.c; the
// hash is 09316115d5cf…913cf7 in hex): the
// string another implementation wrote verifies here, with its parameters
// read from the string rather than assumed.
func TestVerifyReadsParametersFromTheString(t *testing.T) {
	ref := "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	if ok, err := Verify("password", ref); !ok || err != nil {
		t.Fatalf("reference vector: got %v, %v; want true", ok, err)
	}
	if ok, err := Verify("passwore", ref); ok || err != nil {
		t.Fatalf("reference vector, wrong password: got %v, %v; want false", ok, err)
	}
	if !NeedsRehash(ref) {
		t.Error("a hash with other parameters than Default does not need rehashing")
	}
	// Raised parameters verify too.
	h, err := HashWith("pw", Params{Memory: 32 << 10, Time: 3, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "$m=32768,t=3,p=2$") {
		t.Fatalf("got %q", h)
	}
	if ok, err := Verify("pw", h); !ok || err != nil {
		t.Fatalf("got %v, %v", ok, err)
	}
}

func TestVerifyRefusesMalformedStrings(t *testing.T) {
	good := "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	for _, bad := range []string{
		"",
		"plaintext",
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "m=65536", "m=4294967295", 1), // 4 TiB
		strings.Replace(good, "t=2", "t=0", 1),
		strings.Replace(good, "t=2", "t=100000", 1),
		strings.Replace(good, "p=1", "p=0", 1),
		strings.Replace(good, "p=1", "p=256", 1),
		strings.Replace(good, "m=65536,t=2,p=1", "m=65536,t=2", 1),
		strings.Replace(good, "m=65536,t=2,p=1", "m=65536,m=2,p=1", 1),
		strings.Replace(good, "m=65536", "m=-1", 1),
		strings.Replace(good, "m=65536", "m=4", 1),        // under 8 KiB a thread
		strings.Replace(good, "c29tZXNhbHQ", "c29tZQ", 1), // 4-byte salt
		strings.Replace(good, "c29tZXNhbHQ", "c29tZXNhbHQ=", 1),
		strings.Replace(good, "c29tZXNhbHQ", "!!", 1),
		good[:len(good)-30], // a 10-byte hash
		good + "$",
	} {
		if ok, err := Verify("password", bad); ok || err != ErrMalformed {
			t.Errorf("Verify(%q): got %v, %v; want false, ErrMalformed", bad, ok, err)
		}
		if !NeedsRehash(bad) {
			t.Errorf("NeedsRehash(%q) is false", bad)
		}
	}
}

func TestLongPasswordsAreRefused(t *testing.T) {
	long := strings.Repeat("x", MaxLen+1)
	if _, err := Hash(long); err != ErrTooLong {
		t.Fatalf("Hash: got %v, want ErrTooLong", err)
	}
	h, _ := Hash("pw")
	if ok, err := Verify(long, h); ok || err != ErrTooLong {
		t.Fatalf("Verify: got %v, %v; want ErrTooLong", ok, err)
	}
	if _, err := Hash(strings.Repeat("é", 256)); err != nil { // model.MaxPasswordLen runes
		t.Fatalf("the longest password the model allows: %v", err)
	}
}

// Hashes run concurrently without trouble, however many ask at once.
func TestConcurrentHashes(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			h, err := Hash("pw")
			if err == nil {
				var ok bool
				if ok, err = Verify("pw", h); !ok && err == nil {
					t.Error("a concurrent hash does not verify")
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
