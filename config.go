package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/referrald/referrald/store"
)

// Config is everything referrald can be told. Defaults are safe for one
// machine: loopback only, data in ./data.
type Config struct {
	// Listen is the API's address.
	Listen string
	// DataDir holds the bbolt file.
	DataDir string
	// AdminToken, when set, is accepted with scope admin.
	AdminToken string
	// IdempotencyWindow is how long an idempotency key is remembered.
	IdempotencyWindow time.Duration
	// LogFormat is text or json.
	LogFormat string
}

func defaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:8080",
		DataDir:           "./data",
		IdempotencyWindow: 24 * time.Hour,
		LogFormat:         "text",
	}
}

// configError names the setting that is wrong, for the one-line message
// printed before exiting with code 2.
type configError struct {
	key string
	msg string
}

func (e *configError) Error() string { return fmt.Sprintf("config: %s: %s", e.key, e.msg) }

// applyEnv overrides c with the REFERRALD_* variables that are set.
func (c *Config) applyEnv(getenv func(string) string) error {
	if v := getenv("REFERRALD_LISTEN"); v != "" {
		c.Listen = v
	}
	if v := getenv("REFERRALD_DATA_DIR"); v != "" {
		c.DataDir = v
	}
	if v := getenv("REFERRALD_ADMIN_TOKEN"); v != "" {
		c.AdminToken = v
	}
	if v := getenv("REFERRALD_IDEMPOTENCY_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return &configError{"REFERRALD_IDEMPOTENCY_WINDOW", fmt.Sprintf("%q is not a duration (e.g. 24h)", v)}
		}
		c.IdempotencyWindow = d
	}
	if v := getenv("REFERRALD_LOG_FORMAT"); v != "" {
		c.LogFormat = v
	}
	return nil
}

// Validate checks c as a whole.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return &configError{"listen", fmt.Sprintf("%q is not host:port", c.Listen)}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return &configError{"data_dir", "must not be empty"}
	}
	if c.IdempotencyWindow < time.Minute {
		return &configError{"idempotency_window", "must be at least 1m"}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return &configError{"log_format", fmt.Sprintf("%q must be text or json", c.LogFormat)}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return &configError{"REFERRALD_ADMIN_TOKEN", "must be at least 16 characters"}
	}
	return nil
}

// StorePath is the bbolt file.
func (c *Config) StorePath() string { return filepath.Join(c.DataDir, store.FileName) }
