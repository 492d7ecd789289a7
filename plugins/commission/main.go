// Command commission is a referrald hook plugin that pays ambassadors:
// a signup bounty for each referral, and a percentage of each earning
// (with a cap), by rules per program from its own small YAML file:
//
//	default:                       # programs not listed below
//	  signup_bounty: {amount: 200, currency: USD}
//	programs:
//	  prg_01jdq3f7k8m2n4p6r8t0v2x4z6:
//	    signup_bounty: {amount: 500, currency: USD}
//	    earning_basis_points: 1000 # 10 % of each earning
//	    earning_cap: 2000          # at most 20.00 per earning (same currency)
//
// Run by referrald with args ["-config", "/etc/referrald/commission.yaml"].
// It keeps no state: referrald records one result per event and plugin, so
// a redelivered event cannot pay twice.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/referrald/referrald/hooks"
	"github.com/referrald/referrald/hooks/sdk"
)

const version = "1.0.0"

// Money is an amount in a currency's minor unit.
type Money struct {
	Amount   int64  `yaml:"amount"`
	Currency string `yaml:"currency"`
}

// Rule is how one program pays.
type Rule struct {
	SignupBounty *Money `yaml:"signup_bounty"`
	// EarningBasisPoints is the share of each earning paid (10000 = 100 %).
	EarningBasisPoints int64 `yaml:"earning_basis_points"`
	// EarningCap bounds the commission on one earning (0: no cap).
	EarningCap int64 `yaml:"earning_cap"`
}

// Config is the plugin's file.
type Config struct {
	Default  Rule            `yaml:"default"`
	Programs map[string]Rule `yaml:"programs"`
}

func loadConfig(path string) (Config, error) {
	var c Config
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	for name, r := range c.Programs {
		if err := r.check(); err != nil {
			return c, fmt.Errorf("%s: programs.%s: %w", path, name, err)
		}
	}
	if err := c.Default.check(); err != nil {
		return c, fmt.Errorf("%s: default: %w", path, err)
	}
	return c, nil
}

func (r Rule) check() error {
	switch {
	case r.SignupBounty != nil && (r.SignupBounty.Amount < 0 || len(r.SignupBounty.Currency) != 3):
		return errors.New("signup_bounty needs a non-negative amount and a 3-letter currency")
	case r.EarningBasisPoints < 0 || r.EarningBasisPoints > 10000:
		return errors.New("earning_basis_points must be 0 to 10000")
	case r.EarningCap < 0:
		return errors.New("earning_cap must not be negative")
	}
	return nil
}

func (c Config) rule(program string) Rule {
	if r, ok := c.Programs[program]; ok {
		return r
	}
	return c.Default
}

// percentOf returns amount × bp / 10000 rounded half to even on the minor
// unit, so that a manager can recompute every cent.
func percentOf(amount, bp int64) int64 {
	num := amount * bp // fine below 9.2e14 minor units, far beyond any earning
	neg := num < 0
	if neg {
		num = -num
	}
	q, r := num/10000, num%10000
	if 2*r > 10000 || 2*r == 10000 && q%2 == 1 {
		q++
	}
	if neg {
		return -q
	}
	return q
}

type plugin struct {
	sdk.Base
	cfg Config
}

func (p *plugin) Describe(context.Context) (hooks.Description, error) {
	return hooks.Description{Name: "commission", Version: version,
		Events: []string{hooks.EventReferralCreated, hooks.EventEarningCreated}}, nil
}

func (p *plugin) OnEvent(_ context.Context, e hooks.Event) (hooks.EventResult, error) {
	switch e.Type {
	case hooks.EventReferralCreated:
		var r hooks.Referral
		if err := json.Unmarshal(e.Data, &r); err != nil {
			return hooks.EventResult{}, sdk.Permanent(fmt.Errorf("referral.created payload: %w", err))
		}
		b := p.cfg.rule(r.ProgramID).SignupBounty
		if b == nil || b.Amount == 0 {
			return hooks.EventResult{}, nil
		}
		return hooks.EventResult{Commission: &hooks.Commission{AmbassadorID: r.AmbassadorID, Amount: b.Amount,
			Currency: b.Currency, Reason: "signup bounty for " + r.ID}}, nil
	case hooks.EventEarningCreated:
		var ern hooks.Earning
		if err := json.Unmarshal(e.Data, &ern); err != nil {
			return hooks.EventResult{}, sdk.Permanent(fmt.Errorf("earning.created payload: %w", err))
		}
		rule := p.cfg.rule(ern.ProgramID)
		if rule.EarningBasisPoints == 0 {
			return hooks.EventResult{}, nil
		}
		amount := percentOf(ern.Amount, rule.EarningBasisPoints)
		reason := fmt.Sprintf("%d bp of earning %s", rule.EarningBasisPoints, ern.ID)
		if rule.EarningCap > 0 && amount > rule.EarningCap {
			amount, reason = rule.EarningCap, reason+fmt.Sprintf(", capped at %d", rule.EarningCap)
		}
		return hooks.EventResult{Commission: &hooks.Commission{AmbassadorID: ern.AmbassadorID, Amount: amount,
			Currency: ern.Currency, Reason: reason}}, nil
	}
	return hooks.EventResult{}, nil
}

func main() {
	path := flag.String("config", "", "the rules file")
	flag.Parse()
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "commission:", err)
		os.Exit(1)
	}
	sdk.Serve(&plugin{cfg: cfg})
}
