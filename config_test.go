package main

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

func noEnv(string) string { return "" }

// The example must load, and say exactly the defaults, so it can never
// drift from the code.
func TestExampleConfigIsTheDefaults(t *testing.T) {
	cfg, err := loadConfig("config.example.yaml", noEnv)
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	cfg.Hooks.Plugins = nil // the example's plugin entry is commented out
	cfg.TrustedProxies = nil
	if want := defaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config.example.yaml says\n%+v\nbut the defaults are\n%+v", cfg, want)
	}
}

// Every setting in Config appears in the example, so none goes undocumented.
func TestExampleConfigDocumentsEverySetting(t *testing.T) {
	example, err := os.ReadFile("config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(t reflect.Type)
	walk = func(typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !bytes.Contains(example, []byte(f.Tag.Get("yaml")+":")) {
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
	files, _ := filepath.Glob("testdata/config/*.bad.yaml")
	if len(files) == 0 {
		t.Fatal("no bad configs in testdata/config")
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
			_, err = loadConfig(path, noEnv)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want an error containing %q", err, want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line", err)
			}
			// And through the command: exit 2, one line, before listening.
			var out, errOut bytes.Buffer
			if code := run([]string{"serve", "-config", path}, noEnv, &out, &errOut); code != exitUsage ||
				strings.Count(errOut.String(), "\n") != 1 || strings.Contains(errOut.String(), "listening") {
				t.Fatalf("serve: exit %d, %q; want exit 2 and one line", code, errOut.String())
			}
		})
	}
}

func TestConfigFileProblems(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"testdata/config/does-not-exist.yaml", "no such file"},
		{"testdata", "cannot read"},
	} {
		if _, err := loadConfig(c.path, noEnv); err == nil || !strings.Contains(err.Error(), c.want) {
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
	cfg, err := loadConfig(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:2222" || cfg.RateLimits.PerKey.Rate != 5 || cfg.RateLimits.PerKey.Burst != 9 ||
		cfg.Log.Format != "json" || cfg.Idempotency.Window != time.Hour || cfg.DataDir != "/var/lib/referrald" {
		t.Fatalf("got %+v", cfg)
	}
	env["REFERRALD_RATE_LIMITS_PER_IP_RATE"] = "fast"
	if _, err := loadConfig(path, func(k string) string { return env[k] }); err == nil ||
		!strings.Contains(err.Error(), "REFERRALD_RATE_LIMITS_PER_IP_RATE") {
		t.Fatalf("bad env value: got %v, want the variable named", err)
	}
}

func TestNoConfigMeansSafeDefaults(t *testing.T) {
	cfg, err := loadConfig("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.DataDir != "./data" {
		t.Fatalf("got %+v, want loopback and ./data", cfg)
	}
}

// The journal settings, gone with the journals, still load, from a file
// or the environment, under either name, and are reported for a warning.
func TestJournalSettingsAreIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("idempotency:\n  journal_entries: 4096\nstore:\n  journal_entries: 8\n"), 0o600)
	cfg, err := loadConfig(path, noEnv)
	if want := []string{"store.journal_entries", "idempotency.journal_entries"}; err != nil || !slices.Equal(cfg.ignored(), want) {
		t.Fatalf("from the file: %v, ignored %v; want %v", err, cfg.ignored(), want)
	}
	env := map[string]string{"REFERRALD_STORE_JOURNAL_ENTRIES": "2048"}
	cfg, err = loadConfig("", func(k string) string { return env[k] })
	if want := []string{"store.journal_entries"}; err != nil || !slices.Equal(cfg.ignored(), want) {
		t.Fatalf("from the environment: %v, ignored %v; want %v", err, cfg.ignored(), want)
	}
	if cfg, _ := loadConfig("", noEnv); len(cfg.ignored()) != 0 {
		t.Fatalf("nothing given, yet ignored %v", cfg.ignored())
	}
}
