package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// mapEnv is an environment of exactly these variables.
func mapEnv(vars map[string]string) Env {
	return Env{
		Get: func(k string) string { return vars[k] },
		List: func() []string {
			var out []string
			for k, v := range vars {
				out = append(out, k+"="+v)
			}
			return out
		},
	}
}

// The example is read from the top of the module, where operators find it.
const example = "../config.example.yaml"

// The example must load, and say exactly the defaults, so it can never
// drift from the code.
func TestExampleConfigIsTheDefaults(t *testing.T) {
	cfg, err := Load(example, Env{})
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	cfg.Hooks.Plugins = nil // the example's plugin entry is commented out
	cfg.TrustedProxies = nil
	if want := Default(); !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config.example.yaml says\n%+v\nbut the defaults are\n%+v", cfg, want)
	}
}

// Every setting in Config appears in the example, so none goes undocumented.
func TestExampleConfigDocumentsEverySetting(t *testing.T) {
	text, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(t reflect.Type)
	walk = func(typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if f.Tag.Get("referrald") == "ignored" {
				continue // accepted only to warn that it does nothing
			}
			if !bytes.Contains(text, []byte(f.Tag.Get("yaml")+":")) {
				t.Errorf("setting %s is not in config.example.yaml", f.Tag.Get("yaml"))
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type)
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				walk(f.Type.Elem())
			}
		}
	}
	walk(reflect.TypeOf(Config{}))
}

func TestBadConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) == 0 {
		t.Fatal("no bad configs in testdata")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(b), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("%s must start with '# want: <message>'", path)
			}
			_, err = Load(path, Env{})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want an error containing %q", err, want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line", err)
			}
		})
	}
}

func TestConfigFileProblems(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"testdata/does-not-exist.yaml", "no such file"},
		{"testdata", "cannot read"},
	} {
		if _, err := Load(c.path, Env{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.path, err, c.want)
		}
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:1111\nrate_limits:\n  per_key:\n    rate: 5\n    burst: 7\nlog:\n  format: json\n"), 0o600)
	env := map[string]string{
		"REFERRALD_LISTEN":                    "127.0.0.1:2222",
		"REFERRALD_RATE_LIMITS_PER_KEY_BURST": "9",
		"REFERRALD_IDEMPOTENCY_WINDOW":        "1h",
		"REFERRALD_DATA_DIR":                  "/var/lib/referrald",
	}
	cfg, err := Load(path, mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:2222" || cfg.RateLimits.PerKey.Rate != 5 || cfg.RateLimits.PerKey.Burst != 9 ||
		cfg.Log.Format != "json" || cfg.Idempotency.Window != time.Hour || cfg.DataDir != "/var/lib/referrald" {
		t.Fatalf("got %+v", cfg)
	}
	env["REFERRALD_RATE_LIMITS_PER_IP_RATE"] = "fast"
	if _, err := Load(path, mapEnv(env)); err == nil ||
		!strings.Contains(err.Error(), "REFERRALD_RATE_LIMITS_PER_IP_RATE") {
		t.Fatalf("bad env value: got %v, want the variable named", err)
	}
}

func TestNoConfigMeansSafeDefaults(t *testing.T) {
	cfg, err := Load("", Env{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.DataDir != "./data" {
		t.Fatalf("got %+v, want loopback and ./data", cfg)
	}
}

// The journal settings, old name and new, are accepted from a file or
// the environment and reported as ignored.
func TestJournalSettingsAreIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("idempotency:\n  journal_entries: 4096\nstore:\n  journal_entries: 8\n"), 0o600)
	cfg, err := Load(path, Env{})
	if want := []string{"idempotency.journal_entries", "store.journal_entries"}; err != nil || !slices.Equal(cfg.Ignored(), want) {
		t.Fatalf("from the file: %v, ignored %v; want %v", err, cfg.Ignored(), want)
	}
	cfg, err = Load("", mapEnv(map[string]string{"REFERRALD_STORE_JOURNAL_ENTRIES": "2048"}))
	if err != nil || len(cfg.Ignored()) != 1 {
		t.Fatalf("from the environment: %v, ignored %v", err, cfg.Ignored())
	}
	if cfg, _ := Load("", Env{}); len(cfg.Ignored()) != 0 {
		t.Fatalf("nothing given, yet ignored %v", cfg.Ignored())
	}
}

// A REFERRALD_ variable that names no setting is refused, naming it and
// the setting it most likely meant, unless it is one the caller reads.
func TestUnknownEnvironmentVariables(t *testing.T) {
	for _, c := range []struct {
		name      string
		vars      map[string]string
		alsoKnown []string
		want      string // "" for no error
	}{
		{"misspelt", map[string]string{"REFERRALD_LISTN": "127.0.0.1:1"},
			nil, "config: REFERRALD_LISTN: unknown variable; did you mean REFERRALD_LISTEN?"},
		{"misspelt nested", map[string]string{"REFERRALD_RATE_LIMIT_PER_KEY_RATE": "5"},
			nil, "did you mean REFERRALD_RATE_LIMITS_PER_KEY_RATE?"},
		{"nothing near", map[string]string{"REFERRALD_COLOUR": "blue"}, nil, "config: REFERRALD_COLOUR: unknown variable"},
		{"set but empty", map[string]string{"REFERRALD_DATADIR": ""}, nil, "did you mean REFERRALD_DATA_DIR?"},
		{"a list", map[string]string{"REFERRALD_HOOKS_PLUGINS": "crm"}, nil, "only the config file can give"},
		{"the first by name", map[string]string{"REFERRALD_ZZZ": "1", "REFERRALD_AAA": "1"}, nil, "REFERRALD_AAA"},
		{"read by the caller", map[string]string{"REFERRALD_TOKEN": "t", "REFERRALD_CONFIG": ""},
			[]string{"REFERRALD_CONFIG", "REFERRALD_TOKEN"}, ""},
		{"settings and others", map[string]string{"REFERRALD_LISTEN": "127.0.0.1:1", "REFERRALD_IDEMPOTENCY_JOURNAL_ENTRIES": "64",
			"REFERRALDX": "1", "PATH": "/bin"}, nil, ""},
		{"the caller's, unknown here", map[string]string{"REFERRALD_TOKEN": "t"}, nil, "REFERRALD_TOKEN: unknown variable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load("", mapEnv(c.vars), c.alsoKnown...)
			if c.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line containing %q", err, c.want)
			}
		})
	}
}

func TestListenAddresses(t *testing.T) {
	for _, c := range []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:8080", true}, {":8080", true}, {"[::1]:65535", true}, {"127.0.0.1:0", true},
		{"127.0.0.1:80800", false}, {"127.0.0.1:65536", false}, {"127.0.0.1:-1", false}, {"127.0.0.1:", false},
		{"localhost:http", false}, {"8080", false},
	} {
		for _, key := range []string{"listen", "metrics.listen"} {
			cfg := Default()
			if key == "listen" {
				cfg.Listen = c.listen
			} else {
				cfg.Metrics.Listen = c.listen
			}
			err := cfg.Validate()
			if (err == nil) != c.ok || err != nil && !strings.HasPrefix(err.Error(), "config: "+key+": ") {
				t.Errorf("%s %q: got %v, want ok %v", key, c.listen, err, c.ok)
			}
		}
	}
}

// The Stripe endpoint's secret comes from the environment, as its
// documentation tells operators to give it.
func TestStripeSecretFromEnvironment(t *testing.T) {
	cfg, err := Load("", mapEnv(map[string]string{
		"REFERRALD_INTEGRATIONS_STRIPE_WEBHOOK_SECRET":        "whsec_from_env",
		"REFERRALD_INTEGRATIONS_STRIPE_REFERRAL_METADATA_KEY": "referral_id",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Integrations.Stripe; s.WebhookSecret != "whsec_from_env" || s.ReferralMetadataKey != "referral_id" {
		t.Fatalf("got %+v", s)
	}
	_, err = Load("", mapEnv(map[string]string{"REFERRALD_INTEGRATIONS_STRIPE_WEBHOOK_SECRET": "sk_live_oops"}))
	if err == nil || strings.Contains(err.Error(), "sk_live_oops") {
		t.Fatalf("an API key as the secret: got %v, want an error that does not repeat it", err)
	}
}

// Posters carry scan.public_base_url, or the listen address without it:
// serve warns when phones could not open that.
func TestPosterAddressWarning(t *testing.T) {
	for _, c := range []struct {
		listen, base string
		want         string // "" for no warning
	}{
		{"127.0.0.1:8080", "", "scan.public_base_url is not set: posters and QR codes will carry http://127.0.0.1:8080"},
		{"0.0.0.0:8080", "", "will carry http://0.0.0.0:8080, the listen address"},
		{"0.0.0.0:8080", "http://localhost:8080", "is a loopback address: posters and QR codes will carry http://localhost:8080"},
		{"0.0.0.0:8080", "http://127.0.0.2", "is a loopback address"},
		{"0.0.0.0:8080", "http://[::1]:8080/r", "is a loopback address"},
		{"0.0.0.0:8080", "https://app.LOCALHOST", "is a loopback address"},
		{"0.0.0.0:8080", "https://go.example.edu", ""},
		{"127.0.0.1:8080", "https://192.0.2.7:8443", ""},
	} {
		cfg := Default()
		cfg.Listen, cfg.Scan.PublicBaseURL = c.listen, c.base
		got := cfg.PosterAddressWarning()
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("listen %s, public_base_url %q: got %q, want %q", c.listen, c.base, got, c.want)
		}
		if got != "" && !strings.Contains(got, "set scan.public_base_url") {
			t.Errorf("warning %q does not say what to set", got)
		}
	}
}

// Warnings has one entry per likely mistake, each with what to log, and
// none for settings that are fine.
func TestWarnings(t *testing.T) {
	cfg := Default()
	cfg.Scan.PublicBaseURL = "https://go.example.edu"
	if ws := cfg.Warnings(); len(ws) != 0 {
		t.Fatalf("sound settings: got %v, want no warnings", ws)
	}
	cfg.AdminToken = "short"
	cfg.Store.JournalEntries = 100
	cfg.Scan.PublicBaseURL = ""
	ws := cfg.Warnings()
	if len(ws) != 3 {
		t.Fatalf("got %d warnings %v, want the ignored setting, the token and the posters' address", len(ws), ws)
	}
	if !strings.Contains(ws[0].Message, "no longer used") || !slices.Equal(ws[0].Args, []any{"setting", "store.journal_entries"}) {
		t.Errorf("ignored setting: got %+v", ws[0])
	}
	if !strings.Contains(ws[1].Message, "admin token is short") || !slices.Equal(ws[1].Args, []any{"length", 5, "recommended_min_length", WeakAdminToken}) {
		t.Errorf("short token: got %+v", ws[1])
	}
	if ws[2].Message != cfg.PosterAddressWarning() || ws[2].Args != nil {
		t.Errorf("posters' address: got %+v", ws[2])
	}
}
