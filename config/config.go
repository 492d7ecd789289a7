// Package config is referrald's settings: their defaults, a strict YAML
// file, REFERRALD_ environment overrides and the checks of the whole
// (Prometheus' config package). The referrald command and the load
// generator both load them here, so that they build the same server.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/referrald/referrald/hooks/host"
	"github.com/referrald/referrald/store"
)

// Config is everything referrald can be told. Defaults (Default) are
// safe for one machine: loopback only, data in ./data. Each setting is read
// from the YAML file under its yaml path and can be overridden by the
// environment variable REFERRALD_<PATH>, e.g. rate_limits.per_key.rate by
// REFERRALD_RATE_LIMITS_PER_KEY_RATE. config.example.yaml documents them all.
type Config struct {
	Listen      string            `yaml:"listen"`
	DataDir     string            `yaml:"data_dir"`
	AdminToken  string            `yaml:"admin_token"`
	Idempotency IdempotencyConfig `yaml:"idempotency"`
	Store       StoreConfig       `yaml:"store" referrald:"ignored"`
	Limits      LimitsConfig      `yaml:"limits"`
	RateLimits  RateLimitsConfig  `yaml:"rate_limits"`
	Metrics     MetricsConfig     `yaml:"metrics"`
	Log         LogConfig         `yaml:"log"`
	Shutdown    ShutdownConfig    `yaml:"shutdown"`
	Scan        ScanConfig        `yaml:"scan"`
	Privacy     PrivacyConfig     `yaml:"privacy"`
	Console     ConsoleConfig     `yaml:"console"`
	Portal      PortalConfig      `yaml:"portal"`
	Email       EmailConfig       `yaml:"email"`
	// TrustedProxies are CIDRs of proxies whose ClientIPHeader is
	// believed; from anyone else it is ignored.
	TrustedProxies []string       `yaml:"trusted_proxies"`
	Hooks          HooksConfig    `yaml:"hooks"`
	Webhooks       WebhooksConfig `yaml:"webhooks"`
	// ClientIPHeader is the one header read from a trusted proxy for the
	// client's address: forwarded (RFC 7239) or x-forwarded-for. The
	// other is ignored, since a client can send either.
	ClientIPHeader string `yaml:"client_ip_header"`
	// Integrations connect referrald to the shops that sell to referred
	// people (docs/integrations.md).
	Integrations IntegrationsConfig `yaml:"integrations"`
}

// IntegrationsConfig holds each integration's settings.
type IntegrationsConfig struct {
	Stripe StripeConfig `yaml:"stripe"`
}

// StripeConfig is the Stripe webhook endpoint,
// POST /v1/integrations/stripe/events. Without a secret it is off (404).
type StripeConfig struct {
	// WebhookSecret is the endpoint's signing secret (whsec_...) from
	// Stripe's dashboard; best given as
	// REFERRALD_INTEGRATIONS_STRIPE_WEBHOOK_SECRET.
	WebhookSecret string `yaml:"webhook_secret"`
	// ReferralMetadataKey, when set, names the Checkout Session metadata
	// key read for the referral ID when client_reference_id is empty.
	ReferralMetadataKey string `yaml:"referral_metadata_key"`
}

// Secrets are the endpoint's signing secrets as the API takes them: none
// when the integration is off.
func (s StripeConfig) Secrets() [][]byte {
	if s.WebhookSecret == "" {
		return nil
	}
	return [][]byte{[]byte(s.WebhookSecret)}
}

// maxStripeMetadataKey is Stripe's limit on a metadata key's length.
const maxStripeMetadataKey = 40

// validate checks the Stripe settings.
func (s StripeConfig) validate() error {
	if s.WebhookSecret != "" && (!strings.HasPrefix(s.WebhookSecret, "whsec_") || strings.ContainsFunc(s.WebhookSecret, unicode.IsSpace)) {
		// Most likely an API key pasted into the wrong place, which must
		// not sit here unnoticed; the value itself is never repeated.
		return &configError{"integrations.stripe.webhook_secret", "must be the endpoint's signing secret from Stripe, which starts with whsec_ (not an API key)"}
	}
	if k := s.ReferralMetadataKey; len(k) > maxStripeMetadataKey || strings.ContainsAny(k, "[]") || strings.TrimSpace(k) != k {
		return &configError{"integrations.stripe.referral_metadata_key", fmt.Sprintf("%q must be a Stripe metadata key: at most %d characters, without [ ] or surrounding spaces", k, maxStripeMetadataKey)}
	}
	return nil
}

// PrivacyConfig bounds how long personal data is kept.
type PrivacyConfig struct {
	// ScanRetention is how long a scan's user agent, referrer and IP hash
	// are kept; older impressions keep only what counts need. 0 keeps them.
	ScanRetention time.Duration `yaml:"scan_retention"`
}

// ConsoleConfig shapes the web console's sign-in sessions.
type ConsoleConfig struct {
	// SessionIdle ends a session that has not been used for this long.
	SessionIdle time.Duration `yaml:"session_idle"`
	// SessionAbsolute ends a session this long after sign-in, however
	// much it is used.
	SessionAbsolute time.Duration `yaml:"session_absolute"`
}

// PortalConfig shapes the ambassador portal's sessions, as ConsoleConfig
// the console's.
type PortalConfig struct {
	SessionIdle     time.Duration `yaml:"session_idle"`
	SessionAbsolute time.Duration `yaml:"session_absolute"`
}

// EmailConfig is how referrald sends email: sign-in links, welcomes,
// approved commissions and payouts. Without smtp.host nothing is sent.
type EmailConfig struct {
	SMTP SMTPConfig `yaml:"smtp"`
	// Templates is a folder whose files replace the embedded message
	// templates of the same name.
	Templates string `yaml:"templates"`
}

// SMTPConfig is the mail server messages are handed to.
type SMTPConfig struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile, when set, holds the password (a trailing newline is
	// dropped), so that it need not be in the config or the environment.
	PasswordFile string `yaml:"password_file"`
	// From is the sender: an address, or a name and an address
	// ("Spring Ambassadors <ambassadors@example.edu>").
	From string `yaml:"from"`
	// TLS is starttls (required), tls (implicit, usually port 465),
	// opportunistic (STARTTLS when offered) or none (a relay on this
	// machine).
	TLS string `yaml:"tls"`
}

// Enabled reports whether email is configured.
func (e EmailConfig) Enabled() bool { return e.SMTP.Host != "" }

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
	// OutboxRetention is how long events are kept when no plugin is
	// configured to consume them.
	OutboxRetention time.Duration `yaml:"outbox_retention"`
}

// WebhooksConfig shapes webhook delivery. Endpoints themselves are made
// through the API (/v1/webhook_endpoints).
type WebhooksConfig struct {
	// AllowPrivateNetworks lets deliveries go to loopback, private,
	// link-local and unique-local addresses: for on-prem receivers.
	AllowPrivateNetworks bool `yaml:"allow_private_networks"`
	// AllowHTTP lets endpoints have http URLs; else they must be https.
	AllowHTTP bool `yaml:"allow_http"`
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
	StartFrom           string        `yaml:"start_from"`
}

// IdempotencyConfig tunes idempotency keys.
type IdempotencyConfig struct {
	Window time.Duration `yaml:"window"`
	// JournalEntries is read only to warn that it is ignored.
	//
	// Deprecated: the store sizes its journals itself.
	JournalEntries int `yaml:"journal_entries" referrald:"ignored"`
}

// StoreConfig held the store's tuning, of which nothing is left.
type StoreConfig struct {
	// JournalEntries is read only to warn that it is ignored.
	//
	// Deprecated: the store sizes its journals itself.
	JournalEntries int `yaml:"journal_entries" referrald:"ignored"`
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

// Default is the configuration without a file or environment.
func Default() Config {
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
		Console:  ConsoleConfig{SessionIdle: 12 * time.Hour, SessionAbsolute: 7 * 24 * time.Hour},
		Portal:   PortalConfig{SessionIdle: 7 * 24 * time.Hour, SessionAbsolute: 30 * 24 * time.Hour},
		Email:    EmailConfig{SMTP: SMTPConfig{Port: 587, TLS: "starttls"}},
		Hooks:    HooksConfig{OutboxRetention: store.DefaultOutboxRetention},
		// RFC 7239's header; a proxy that sets only X-Forwarded-For needs x-forwarded-for.
		ClientIPHeader: "forwarded",
	}
}

// configError names the setting that is wrong, for the one-line message
// printed before exiting with code 2.
type configError struct {
	key string
	msg string
}

func (e *configError) Error() string { return fmt.Sprintf("config: %s: %s", e.key, e.msg) }

// Env is the process environment as Load reads it: Get looks up one
// variable (os.Getenv) and List gives every NAME=value pair (os.Environ).
// Tests pass their own, to stay hermetic; a nil field reads as empty.
type Env struct {
	Get  func(string) string
	List func() []string
}

func (e Env) get(name string) string {
	if e.Get == nil {
		return ""
	}
	return e.Get(name)
}

// envPrefix starts every setting's variable, and every variable of ours.
const envPrefix = "REFERRALD"

// Load builds the configuration: defaults, then the file (if any), then
// the environment, then checks the whole. A REFERRALD_ variable in env
// that names no setting is an error, as a typo in the file is, unless it
// is one of alsoKnown: variables that others read, such as the command
// line's REFERRALD_CONFIG.
func Load(path string, env Env, alsoKnown ...string) (Config, error) {
	cfg := Default()
	if path != "" {
		if err := loadFile(path, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := checkEnvNames(env, alsoKnown); err != nil {
		return cfg, err
	}
	if err := applyEnv(reflect.ValueOf(&cfg).Elem(), env.get); err != nil {
		return cfg, err
	}
	if err := cfg.readPasswordFile(); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// maxPasswordFile bounds what is read of email.smtp.password_file.
const maxPasswordFile = 4096

// readPasswordFile sets the SMTP password from its file, when one is
// named.
func (c *Config) readPasswordFile() error {
	path := c.Email.SMTP.PasswordFile
	if path == "" {
		return nil
	}
	if c.Email.SMTP.Password != "" {
		return &configError{"email.smtp.password_file", "set either it or email.smtp.password, not both"}
	}
	f, err := os.Open(path)
	if err != nil {
		return &configError{"email.smtp.password_file", err.Error()}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil || len(b) > maxPasswordFile {
		return &configError{"email.smtp.password_file", fmt.Sprintf("cannot read it, or it is over %d bytes", maxPasswordFile)}
	}
	c.Email.SMTP.Password = strings.TrimRight(string(b), "\r\n")
	return nil
}

// maxAdminToken bounds the admin token; WeakAdminToken is the length below
// which serve warns that it is guessable (it still works: tests and a
// first try use short ones).
const (
	maxAdminToken  = 4096
	WeakAdminToken = 16
)

// Ignored lists the settings given that no longer do anything, for a
// warning: they are accepted for one release so that an old file still
// starts the service.
func (c *Config) Ignored() []string {
	var names []string
	if c.Idempotency.JournalEntries != 0 {
		names = append(names, "idempotency.journal_entries")
	}
	if c.Store.JournalEntries != 0 {
		names = append(names, "store.journal_entries")
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
func applyEnv(cfg reflect.Value, getenv func(string) string) error {
	return eachSetting(cfg, envPrefix, func(name string, f reflect.Value) error {
		if f.Kind() == reflect.Slice {
			return nil // lists (hook plugins) come from the file only
		}
		if s := getenv(name); s != "" {
			if err := setScalar(f, s, false); err != nil {
				return &configError{name, fmt.Sprintf("must be %s, not %q", typeName(f.Type()), s)}
			}
		}
		return nil
	})
}

// eachSetting calls fn with the environment variable name and the field
// of every setting under v, lists included.
func eachSetting(v reflect.Value, prefix string, fn func(name string, f reflect.Value) error) error {
	for i := 0; i < v.NumField(); i++ {
		f, tag := v.Field(i), v.Type().Field(i).Tag.Get("yaml")
		name := prefix + "_" + strings.ToUpper(tag)
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Duration(0)) {
			if err := eachSetting(f, name, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(name, f); err != nil {
			return err
		}
	}
	return nil
}

// checkEnvNames refuses a REFERRALD_ variable that is neither a setting
// nor one of alsoKnown: a misspelt one would otherwise leave its setting
// at the default without a word. The first, in name order, is named.
func checkEnvNames(env Env, alsoKnown []string) error {
	if env.List == nil {
		return nil
	}
	known, lists := map[string]bool{}, map[string]bool{}
	eachSetting(reflect.ValueOf(&Config{}).Elem(), envPrefix, func(name string, f reflect.Value) error {
		if f.Kind() == reflect.Slice {
			lists[name] = true
		} else {
			known[name] = true
		}
		return nil
	})
	for _, name := range alsoKnown {
		known[name] = true
	}
	var unknown []string
	for _, kv := range env.List() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix+"_") && !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	name := unknown[0]
	if lists[name] {
		return &configError{name, "is a list, which only the config file can give"}
	}
	msg := "unknown variable"
	if near := closest(name, slices.Sorted(maps.Keys(known))); near != "" {
		msg += "; did you mean " + near + "?"
	}
	return &configError{name, msg}
}

// closest is the name in candidates nearest to name by edit distance, or
// "" when none is near enough to be a likely typo of it.
func closest(name string, candidates []string) string {
	best, bestDist := "", max(2, (len(name)-len(envPrefix)-1)/3)+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
	if err := checkListen("listen", c.Listen); err != nil {
		return err
	}
	if c.Metrics.Listen != "" {
		if err := checkListen("metrics.listen", c.Metrics.Listen); err != nil {
			return err
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
	if c.Hooks.OutboxRetention < 0 {
		return &configError{"hooks.outbox_retention", "must not be negative"}
	}
	if c.Privacy.ScanRetention != 0 && c.Privacy.ScanRetention < 24*time.Hour {
		return &configError{"privacy.scan_retention", "must be 0 (keep) or at least 24h"}
	}
	if c.Console.SessionAbsolute < 5*time.Minute || c.Console.SessionAbsolute > 90*24*time.Hour {
		return &configError{"console.session_absolute", "must be from 5m to 2160h (90 days)"}
	}
	if c.Console.SessionIdle < time.Minute || c.Console.SessionIdle > c.Console.SessionAbsolute {
		return &configError{"console.session_idle", "must be from 1m to console.session_absolute"}
	}
	if c.Portal.SessionAbsolute < 5*time.Minute || c.Portal.SessionAbsolute > 90*24*time.Hour {
		return &configError{"portal.session_absolute", "must be from 5m to 2160h (90 days)"}
	}
	if c.Portal.SessionIdle < time.Minute || c.Portal.SessionIdle > c.Portal.SessionAbsolute {
		return &configError{"portal.session_idle", "must be from 1m to portal.session_absolute"}
	}
	if err := c.Email.validate(); err != nil {
		return err
	}
	if c.Scan.Inactive != "redirect" && c.Scan.Inactive != "expired" {
		return &configError{"scan.inactive", fmt.Sprintf("%q must be redirect or expired", c.Scan.Inactive)}
	}
	if _, err := c.TrustedProxyPrefixes(); err != nil {
		return err
	}
	if c.ClientIPHeader != "forwarded" && c.ClientIPHeader != "x-forwarded-for" {
		return &configError{"client_ip_header", fmt.Sprintf("%q must be forwarded or x-forwarded-for", c.ClientIPHeader)}
	}
	if err := c.Integrations.Stripe.validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, p := range c.Hooks.Plugins {
		hc := p.HostConfig()
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

// checkListen checks that addr is host:port with a port that can be
// bound, so that a typo is a config error rather than a failure to
// listen later. Port 0 asks for any free port, as tests do.
func checkListen(key, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &configError{key, fmt.Sprintf("%q is not host:port", addr)}
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return &configError{key, fmt.Sprintf("%q: the port must be a number from 1 to 65535 (or 0 for any free port)", addr)}
	}
	return nil
}

// TrustedProxyPrefixes parses trusted_proxies; a bare address is a /32 or
// /128.
func (c *Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
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

// PublicBaseURL is where posters point: scan.public_base_url, or the
// listen address when it is unset.
func (c *Config) PublicBaseURL() string {
	if c.Scan.PublicBaseURL != "" {
		return c.Scan.PublicBaseURL
	}
	return "http://" + c.Listen
}

// Warning is a setting that works but is likely a mistake: what to log,
// and the log attributes, as key-value pairs, that go with it.
type Warning struct {
	Message string
	Args    []any
}

// Warnings lists the settings that work but are likely mistakes, for
// serve to log when it starts: ignored ones, a guessable admin token and
// a poster address phones cannot open.
func (c *Config) Warnings() []Warning {
	var ws []Warning
	for _, name := range c.Ignored() {
		ws = append(ws, Warning{"a setting is no longer used and is ignored; remove it, since a later release will refuse it", []any{"setting", name}})
	}
	if n := len(c.AdminToken); n > 0 && n < WeakAdminToken {
		ws = append(ws, Warning{"the admin token is short enough to be guessed; use a long random one outside tests",
			[]any{"length", n, "recommended_min_length", WeakAdminToken}})
	}
	if msg := c.PosterAddressWarning(); msg != "" {
		ws = append(ws, Warning{Message: msg})
	}
	return ws
}

// PosterAddressWarning says why the address posters point to is likely
// one that phones cannot open, or "" when it is set to another machine:
// serve warns of it, since the setting is valid but likely a mistake.
func (c *Config) PosterAddressWarning() string {
	const fix = "; set scan.public_base_url (REFERRALD_SCAN_PUBLIC_BASE_URL) to the address phones should open"
	if c.Scan.PublicBaseURL == "" {
		return "scan.public_base_url is not set: posters and QR codes will carry " + c.PublicBaseURL() + ", the listen address" + fix
	}
	u, err := url.Parse(c.Scan.PublicBaseURL)
	if err != nil {
		return "" // checked by Validate
	}
	host := strings.ToLower(u.Hostname())
	if ip, err := netip.ParseAddr(host); host == "localhost" || strings.HasSuffix(host, ".localhost") || err == nil && ip.IsLoopback() {
		return "scan.public_base_url is a loopback address: posters and QR codes will carry " + c.PublicBaseURL() +
			", which only this machine can open" + fix
	}
	return ""
}

// PluginNames are the names of the configured hook plugins, which the
// outbox keeps events for.
func (c *Config) PluginNames() []string {
	var names []string
	for _, p := range c.Hooks.Plugins {
		names = append(names, p.Name)
	}
	return names
}

// HostConfig is the plugin's configuration as the hook host takes it.
func (p PluginConfig) HostConfig() host.Config {
	return host.Config{Name: p.Name, Path: p.Path, Args: p.Args, Env: p.Env, SHA256: p.SHA256, Events: p.Events,
		EventTimeout: p.EventTimeout, BeforeCreateTimeout: p.BeforeCreateTimeout, Policy: p.Policy, MaxAttempts: p.MaxAttempts,
		StartFrom: p.StartFrom}
}

// StorePath is the bbolt file.
func (c *Config) StorePath() string { return filepath.Join(c.DataDir, store.FileName) }

// validate checks the email settings, when email is configured.
func (e EmailConfig) validate() error {
	smtp := e.SMTP
	if smtp.Host == "" {
		return nil
	}
	if strings.ContainsAny(smtp.Host, " /:@") || len(smtp.Host) > 253 {
		return &configError{"email.smtp.host", fmt.Sprintf("%q must be a host name or an IP address, without a port", smtp.Host)}
	}
	if smtp.Port < 1 || smtp.Port > 65535 {
		return &configError{"email.smtp.port", "must be from 1 to 65535"}
	}
	switch smtp.TLS {
	case "starttls", "tls", "opportunistic", "none":
	default:
		return &configError{"email.smtp.tls", fmt.Sprintf("%q must be starttls, tls, opportunistic or none", smtp.TLS)}
	}
	if smtp.From == "" {
		return &configError{"email.smtp.from", "is required when email.smtp.host is set: the address messages come from"}
	}
	if _, err := mail.ParseAddress(smtp.From); err != nil {
		return &configError{"email.smtp.from", fmt.Sprintf("%q is not an email address (%v)", smtp.From, err)}
	}
	if (smtp.Username == "") != (smtp.Password == "") {
		return &configError{"email.smtp.username", "set both a username and a password, or neither"}
	}
	if e.Templates != "" {
		if fi, err := os.Stat(e.Templates); err != nil || !fi.IsDir() {
			return &configError{"email.templates", fmt.Sprintf("%q must be a folder", e.Templates)}
		}
	}
	return nil
}
