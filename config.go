package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/referrald/referrald/hooks/host"
	"github.com/referrald/referrald/store"
)

// Config is everything referrald can be told. Defaults (defaultConfig) are
// safe for one machine: loopback only, data in ./data. Each setting is read
// from the YAML file under its yaml path and can be overridden by the
// environment variable REFERRALD_<PATH>, e.g. rate_limits.per_key.rate by
// REFERRALD_RATE_LIMITS_PER_KEY_RATE. config.example.yaml documents them all.
type Config struct {
	Listen      string            `yaml:"listen"`
	DataDir     string            `yaml:"data_dir"`
	AdminToken  string            `yaml:"admin_token"`
	Idempotency IdempotencyConfig `yaml:"idempotency"`
	Store       StoreConfig       `yaml:"store"`
	Limits      LimitsConfig      `yaml:"limits"`
	RateLimits  RateLimitsConfig  `yaml:"rate_limits"`
	Metrics     MetricsConfig     `yaml:"metrics"`
	Log         LogConfig         `yaml:"log"`
	Shutdown    ShutdownConfig    `yaml:"shutdown"`
	Scan        ScanConfig        `yaml:"scan"`
	Privacy     PrivacyConfig     `yaml:"privacy"`
	// TrustedProxies are CIDRs of proxies whose X-Forwarded-For (or
	// Forwarded) header is believed; from anyone else it is ignored.
	TrustedProxies []string    `yaml:"trusted_proxies"`
	Hooks          HooksConfig `yaml:"hooks"`
}

// PrivacyConfig bounds how long personal data is kept.
type PrivacyConfig struct {
	// ScanRetention is how long a scan's user agent, referrer and IP hash
	// are kept; older impressions keep only what counts need. 0 keeps them.
	ScanRetention time.Duration `yaml:"scan_retention"`
}

// ScanConfig shapes the public scan route /s/<code>.
type ScanConfig struct {
	// PublicBaseURL is where the posters' QR codes point; empty means
	// http://<listen>.
	PublicBaseURL string `yaml:"public_base_url"`
	// RepeatWindow is how long a second scan of one poster by one client
	// counts as a repeat (flagged, left out of the funnel).
	RepeatWindow time.Duration `yaml:"repeat_window"`
	// Inactive is what a scan of a deactivated poster gets: redirect (to
	// the landing page, recording nothing) or expired (a page saying so).
	Inactive string `yaml:"inactive"`
}

// HooksConfig lists the hook plugins to run.
type HooksConfig struct {
	Plugins []PluginConfig `yaml:"plugins"`
}

// PluginConfig is one hook plugin (see hooks/README.md).
type PluginConfig struct {
	Name                string        `yaml:"name"`
	Path                string        `yaml:"path"`
	Args                []string      `yaml:"args"`
	Env                 []string      `yaml:"env"`
	SHA256              string        `yaml:"sha256"`
	Events              []string      `yaml:"events"`
	EventTimeout        time.Duration `yaml:"event_timeout"`
	BeforeCreateTimeout time.Duration `yaml:"before_create_timeout"`
	Policy              string        `yaml:"policy"`
	MaxAttempts         int           `yaml:"max_attempts"`
}

// IdempotencyConfig tunes idempotency keys.
type IdempotencyConfig struct {
	Window time.Duration `yaml:"window"`
	// JournalEntries is the older name of store.journal_entries.
	//
	// Deprecated: it has no effect (see ignored).
	JournalEntries int `yaml:"journal_entries"`
}

// StoreConfig holds the store's settings.
type StoreConfig struct {
	// JournalEntries bounded the store's journals, which are gone; it is
	// still read, so that a config that sets it loads (0: not given).
	//
	// Deprecated: it has no effect (see ignored).
	JournalEntries int `yaml:"journal_entries"`
}

// LimitsConfig bounds requests.
type LimitsConfig struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// RateLimitsConfig holds the token buckets.
type RateLimitsConfig struct {
	PerKey BucketConfig `yaml:"per_key"`
	PerIP  BucketConfig `yaml:"per_ip"`
}

// BucketConfig is one token bucket: Rate tokens a second, up to Burst.
type BucketConfig struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// MetricsConfig places /metrics.
type MetricsConfig struct {
	// Listen, when set, serves /metrics on its own address instead of on
	// the API's.
	Listen string `yaml:"listen"`
}

// LogConfig shapes the log.
type LogConfig struct {
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
}

// ShutdownConfig bounds a graceful stop.
type ShutdownConfig struct {
	// Grace is how long requests in flight get after SIGTERM.
	Grace time.Duration `yaml:"grace"`
}

func defaultConfig() Config {
	return Config{
		Listen:      "127.0.0.1:8080",
		DataDir:     "./data",
		Idempotency: IdempotencyConfig{Window: 24 * time.Hour},
		Limits:      LimitsConfig{MaxBodyBytes: 64 << 10},
		RateLimits: RateLimitsConfig{
			PerKey: BucketConfig{Rate: 1000, Burst: 2000},
			PerIP:  BucketConfig{Rate: 10, Burst: 50},
		},
		Log:      LogConfig{Format: "text", Level: "info"},
		Shutdown: ShutdownConfig{Grace: 8 * time.Second},
		Scan:     ScanConfig{RepeatWindow: 30 * time.Minute, Inactive: "redirect"},
		Privacy:  PrivacyConfig{ScanRetention: 90 * 24 * time.Hour},
	}
}

// configError names the setting that is wrong, for the one-line message
// printed before exiting with code 2.
type configError struct {
	key string
	msg string
}

func (e *configError) Error() string { return fmt.Sprintf("config: %s: %s", e.key, e.msg) }

// loadConfig builds the configuration: defaults, then the file (if any),
// then the environment, then checks the whole.
func loadConfig(path string, getenv func(string) string) (Config, error) {
	cfg := defaultConfig()
	if path != "" {
		if err := loadFile(path, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := applyEnv(reflect.ValueOf(&cfg).Elem(), "REFERRALD", getenv); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// maxAdminToken bounds the admin token; weakAdminToken is the length below
// which serve warns that it is guessable (it still works: tests and a
// first try use short ones).
const (
	maxAdminToken  = 4096
	weakAdminToken = 16
)

// ignored lists the settings given that no longer have any effect, for a
// warning. They are still read for a release, so that a config written
// for an earlier one loads.
func (c *Config) ignored() []string {
	var names []string
	if c.Store.JournalEntries != 0 {
		names = append(names, "store.journal_entries")
	}
	if c.Idempotency.JournalEntries != 0 {
		names = append(names, "idempotency.journal_entries")
	}
	return names
}

func loadFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		msg := "cannot read the file"
		if errors.Is(err, fs.ErrNotExist) {
			msg = "no such file"
		} else if errors.Is(err, fs.ErrPermission) {
			msg = "permission denied"
		}
		return &configError{path, msg}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil // an empty file means all defaults
	} else if err != nil {
		return &configError{path, strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", " ")}
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return &configError{path, "holds more than one YAML document; put every setting in one"}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return decodeStrict(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
}

// decodeStrict decodes node into v, naming the full path of the first
// unknown key or mistyped value, so a typo never passes silently.
func decodeStrict(node *yaml.Node, v reflect.Value, path string) error {
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	if v.Kind() == reflect.Struct && v.Type() != reflect.TypeOf(time.Duration(0)) {
		if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
			return nil
		}
		if node.Kind != yaml.MappingNode {
			return &configError{orRoot(path), fmt.Sprintf("must be a mapping of settings (line %d)", node.Line)}
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(node.Content); i += 2 {
			key := node.Content[i].Value
			if line, dup := seen[key]; dup {
				return &configError{join(path, key), fmt.Sprintf("given twice (lines %d and %d)", line, node.Content[i].Line)}
			}
			seen[key] = node.Content[i].Line
			field, ok := fieldByTag(v, key)
			if !ok {
				return &configError{join(path, key), fmt.Sprintf("unknown setting (line %d)", node.Content[i].Line)}
			}
			if err := decodeStrict(node.Content[i+1], field, join(path, key)); err != nil {
				return err
			}
		}
		return nil
	}
	if v.Kind() == reflect.Slice {
		if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
			return nil
		}
		if node.Kind != yaml.SequenceNode {
			return &configError{path, fmt.Sprintf("must be a list (line %d)", node.Line)}
		}
		list := reflect.MakeSlice(v.Type(), len(node.Content), len(node.Content))
		for i, item := range node.Content {
			if err := decodeStrict(item, list.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(list)
		return nil
	}
	if node.Kind != yaml.ScalarNode {
		return &configError{path, fmt.Sprintf("must be %s (line %d)", typeName(v.Type()), node.Line)}
	}
	if node.Tag == "!!null" {
		return nil
	}
	if err := setScalar(v, node.Value, node.Tag == "!!str" && node.Style != 0); err != nil {
		return &configError{path, fmt.Sprintf("must be %s, not %q (line %d)", typeName(v.Type()), node.Value, node.Line)}
	}
	return nil
}

// setScalar parses s into v. A quoted YAML string is refused where a
// number or bool is wanted, so "100" and 100 are not confused silently.
func setScalar(v reflect.Value, s string, quoted bool) error {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
		return nil
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || quoted {
			return errors.New("not an integer")
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || quoted {
			return errors.New("not a number")
		}
		v.SetFloat(f)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil || quoted {
			return errors.New("not a bool")
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// applyEnv overrides every scalar setting whose REFERRALD_<PATH> variable
// is set.
func applyEnv(v reflect.Value, prefix string, getenv func(string) string) error {
	for i := 0; i < v.NumField(); i++ {
		f, tag := v.Field(i), v.Type().Field(i).Tag.Get("yaml")
		name := prefix + "_" + strings.ToUpper(tag)
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Duration(0)) {
			if err := applyEnv(f, name, getenv); err != nil {
				return err
			}
			continue
		}
		if f.Kind() == reflect.Slice {
			continue // lists (hook plugins) come from the file only
		}
		if s := getenv(name); s != "" {
			if err := setScalar(f, s, false); err != nil {
				return &configError{name, fmt.Sprintf("must be %s, not %q", typeName(f.Type()), s)}
			}
		}
	}
	return nil
}

func fieldByTag(v reflect.Value, key string) (reflect.Value, bool) {
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Tag.Get("yaml") == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func typeName(t reflect.Type) string {
	if t == reflect.TypeOf(time.Duration(0)) {
		return "a duration such as 30s or 24h"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	}
	return t.String()
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// Validate checks c as a whole.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return &configError{"listen", fmt.Sprintf("%q is not host:port", c.Listen)}
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			return &configError{"metrics.listen", fmt.Sprintf("%q is not host:port", c.Metrics.Listen)}
		}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return &configError{"data_dir", "must not be empty"}
	}
	if len(c.AdminToken) > maxAdminToken || strings.IndexFunc(c.AdminToken, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0 {
		// A client sends it as "Authorization: Bearer <token>", which
		// cannot carry spaces or control characters.
		return &configError{"admin_token", fmt.Sprintf("must be printable ASCII without spaces, at most %d characters", maxAdminToken)}
	}
	if c.Idempotency.Window < time.Minute {
		return &configError{"idempotency.window", "must be at least 1m"}
	}
	if c.Limits.MaxBodyBytes < 1<<10 || c.Limits.MaxBodyBytes > 1<<20 {
		return &configError{"limits.max_body_bytes", "must be from 1024 to 1048576"}
	}
	for name, b := range map[string]BucketConfig{"rate_limits.per_key": c.RateLimits.PerKey, "rate_limits.per_ip": c.RateLimits.PerIP} {
		// The negated range test also refuses NaN.
		if !(b.Rate >= 0.001 && b.Rate <= 1e6) {
			return &configError{name + ".rate", "must be from 0.001 to 1000000 requests a second"}
		}
		if b.Burst < 1 || b.Burst > 1e6 {
			return &configError{name + ".burst", "must be from 1 to 1000000"}
		}
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return &configError{"log.format", fmt.Sprintf("%q must be text or json", c.Log.Format)}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return &configError{"log.level", fmt.Sprintf("%q must be debug, info, warn or error", c.Log.Level)}
	}
	if c.Shutdown.Grace <= 0 || c.Shutdown.Grace > 9*time.Second {
		return &configError{"shutdown.grace", "must be more than 0 and at most 9s (the whole stop must take under 10s)"}
	}
	if u := c.Scan.PublicBaseURL; u != "" {
		parsed, err := url.Parse(u)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" || parsed.RawQuery != "" {
			return &configError{"scan.public_base_url", fmt.Sprintf("%q must be an http or https URL such as https://go.example.edu", u)}
		}
	}
	if c.Scan.RepeatWindow < 0 || c.Scan.RepeatWindow > 7*24*time.Hour {
		return &configError{"scan.repeat_window", "must be from 0 to 168h"}
	}
	if c.Privacy.ScanRetention != 0 && c.Privacy.ScanRetention < 24*time.Hour {
		return &configError{"privacy.scan_retention", "must be 0 (keep) or at least 24h"}
	}
	if c.Scan.Inactive != "redirect" && c.Scan.Inactive != "expired" {
		return &configError{"scan.inactive", fmt.Sprintf("%q must be redirect or expired", c.Scan.Inactive)}
	}
	if _, err := c.trustedProxies(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, p := range c.Hooks.Plugins {
		hc := p.hostConfig()
		if err := hc.Validate(); err != nil {
			return &configError{fmt.Sprintf("hooks.plugins[%d]", i), err.Error()}
		}
		if seen[p.Name] {
			return &configError{fmt.Sprintf("hooks.plugins[%d].name", i), fmt.Sprintf("%q is used twice", p.Name)}
		}
		seen[p.Name] = true
	}
	return nil
}

// trustedProxies parses trusted_proxies; a bare address is a /32 or /128.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, &configError{fmt.Sprintf("trusted_proxies[%d]", i), fmt.Sprintf("%q is not an address or CIDR", s)}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// publicBaseURL is where posters point.
func (c *Config) publicBaseURL() string {
	if c.Scan.PublicBaseURL != "" {
		return c.Scan.PublicBaseURL
	}
	return "http://" + c.Listen
}

// hostConfig is the plugin's configuration as the hook host takes it.
func (p PluginConfig) hostConfig() host.Config {
	return host.Config{Name: p.Name, Path: p.Path, Args: p.Args, Env: p.Env, SHA256: p.SHA256, Events: p.Events,
		EventTimeout: p.EventTimeout, BeforeCreateTimeout: p.BeforeCreateTimeout, Policy: p.Policy, MaxAttempts: p.MaxAttempts}
}

// StorePath is the bbolt file.
func (c *Config) StorePath() string { return filepath.Join(c.DataDir, store.FileName) }
