// Command crmsync is a referrald hook plugin that sends each new referral
// to a CRM's HTTP API, configured in its own small YAML file:
//
//	url: https://crm.example.com/api/contacts
//	auth_header: Authorization        # header that carries the credential
//	auth_env: CRM_TOKEN               # its value comes from this variable
//	auth_prefix: "Bearer "            # prepended to the value
//	fields:                           # CRM field: referral field
//	  email: email
//	  firstName: first_name
//	  lastName: last_name
//	  referralId: id
//	  campaign: metadata.campaign     # a key of the referral's metadata
//	  source: =referrald              # a constant
//	erase_url: https://crm.example.com/api/contacts/by-ref/{id}
//	retries: 3                        # extra tries on 5xx or network errors
//	state_file: /var/lib/referrald/crmsync-sent   # event IDs already sent
//
// Each event is sent once: IDs that reached the CRM are appended to
// state_file (and kept in memory), and every request carries the event ID
// as Idempotency-Key for CRMs that deduplicate themselves. A 409 counts as
// already sent.
//
// With erase_url, a referral.erased event deletes the contact: DELETE to
// erase_url with {id} replaced by the referral's ID. A 404 or 410 counts
// as deleted, so an erasure of a contact that never reached the CRM, or
// that someone already removed, is done too.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/referrald/referrald/hooks"
	"github.com/referrald/referrald/hooks/sdk"
)

const version = "1.0.0"

// Config is the plugin's file.
type Config struct {
	URL        string            `yaml:"url"`
	AuthHeader string            `yaml:"auth_header"`
	AuthEnv    string            `yaml:"auth_env"`
	AuthPrefix string            `yaml:"auth_prefix"`
	Fields     map[string]string `yaml:"fields"`
	EraseURL   string            `yaml:"erase_url"`
	Retries    int               `yaml:"retries"`
	StateFile  string            `yaml:"state_file"`
}

func loadConfig(path string) (Config, error) {
	c := Config{Retries: 3}
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
	switch {
	case !isHTTPURL(c.URL):
		return c, fmt.Errorf("%s: url must be an http or https URL", path)
	case c.EraseURL != "" && (!isHTTPURL(c.EraseURL) || !strings.Contains(c.EraseURL, "{id}")):
		return c, fmt.Errorf("%s: erase_url must be an http or https URL with {id} where the referral ID goes", path)
	case len(c.Fields) == 0:
		return c, fmt.Errorf("%s: fields must map at least one CRM field", path)
	case c.Retries < 0 || c.Retries > 10:
		return c, fmt.Errorf("%s: retries must be 0 to 10", path)
	case c.AuthHeader != "" && c.AuthEnv == "":
		return c, fmt.Errorf("%s: auth_header needs auth_env, the variable holding the credential", path)
	}
	return c, nil
}

func isHTTPURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

type crmsync struct {
	sdk.Base
	cfg    Config
	auth   string
	client *http.Client

	mu   sync.Mutex
	sent map[string]bool
}

func newCRMSync(cfg Config, getenv func(string) string) (*crmsync, error) {
	s := &crmsync{cfg: cfg, client: &http.Client{}, sent: map[string]bool{}}
	if cfg.AuthEnv != "" {
		s.auth = cfg.AuthPrefix + getenv(cfg.AuthEnv)
	}
	if cfg.StateFile != "" {
		f, err := os.Open(cfg.StateFile)
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				s.sent[strings.TrimSpace(sc.Text())] = true
			}
			f.Close()
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return s, nil
}

func (s *crmsync) Describe(context.Context) (hooks.Description, error) {
	events := []string{hooks.EventReferralCreated}
	if s.cfg.EraseURL != "" {
		events = append(events, hooks.EventReferralErased)
	}
	return hooks.Description{Name: "crmsync", Version: version, Events: events}, nil
}

// body maps a referral.created payload to the CRM's fields, or returns
// nil for a referral erased since (the event now carries the anonymised
// record): a late delivery, say a retried dead letter, must not bring the
// contact back.
func (s *crmsync) body(data []byte) ([]byte, error) {
	var typed hooks.Referral
	if err := json.Unmarshal(data, &typed); err != nil {
		return nil, sdk.Permanent(fmt.Errorf("referral.created payload: %w", err))
	}
	if typed.ErasedAt != nil {
		return nil, nil
	}
	// Fields are named in the config by their JSON names; the contract's
	// type decides which there are.
	var ref, meta map[string]any
	fields, err := json.Marshal(typed)
	if err == nil {
		err = json.Unmarshal(fields, &ref)
	}
	if err != nil {
		return nil, err
	}
	if len(typed.Metadata) > 0 {
		json.Unmarshal(typed.Metadata, &meta)
	}
	out := map[string]any{}
	for crmField, source := range s.cfg.Fields {
		switch {
		case strings.HasPrefix(source, "="):
			out[crmField] = source[1:]
		case strings.HasPrefix(source, "metadata."):
			if v, ok := meta[strings.TrimPrefix(source, "metadata.")]; ok {
				out[crmField] = v
			}
		default:
			if v, ok := ref[source]; ok {
				out[crmField] = v
			}
		}
	}
	return json.Marshal(out)
}

// request is what one event makes the plugin send.
type request struct {
	method, url string
	body        []byte
	what        string // what the CRM is asked for, in errors
}

// requestFor maps an event to its request, or nil for an event the plugin
// does not act on.
func (s *crmsync) requestFor(e hooks.Event) (*request, error) {
	switch {
	case e.Type == hooks.EventReferralCreated:
		body, err := s.body(e.Data)
		if err != nil || body == nil {
			return nil, err
		}
		return &request{"POST", s.cfg.URL, body, "contact"}, nil
	case e.Type == hooks.EventReferralErased && s.cfg.EraseURL != "":
		var erased hooks.ReferralErased
		if err := json.Unmarshal(e.Data, &erased); err != nil || erased.ID == "" {
			return nil, sdk.Permanent(fmt.Errorf("referral.erased payload without a referral id: %v", err))
		}
		return &request{"DELETE", strings.ReplaceAll(s.cfg.EraseURL, "{id}", url.PathEscape(erased.ID)), nil, "deletion"}, nil
	}
	return nil, nil
}

func (s *crmsync) OnEvent(ctx context.Context, e hooks.Event) (hooks.EventResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock() // one send at a time: referrald delivers in order anyway
	if s.sent[e.ID] {
		return hooks.EventResult{}, nil
	}
	req, err := s.requestFor(e)
	if err != nil || req == nil {
		return hooks.EventResult{}, err
	}
	var last error
	for try := 0; try <= s.cfg.Retries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return hooks.EventResult{}, fmt.Errorf("gave up after %d tries: %w", try, last)
			case <-time.After(time.Duration(50<<try) * time.Millisecond):
			}
		}
		var retry bool
		if retry, last = s.send(ctx, e.ID, req); last == nil {
			return hooks.EventResult{}, s.markSent(e.ID)
		} else if !retry {
			return hooks.EventResult{}, last
		}
	}
	return hooks.EventResult{}, last
}

// send makes one request and says whether a failure is worth retrying.
func (s *crmsync) send(ctx context.Context, eventID string, r *request) (retry bool, err error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return false, err
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Idempotency-Key", eventID)
	if s.cfg.AuthHeader != "" {
		req.Header.Set(s.cfg.AuthHeader, s.auth)
	}
	res, err := s.client.Do(req)
	if err != nil {
		return true, err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	gone := res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone
	switch {
	case res.StatusCode < 300, r.method == "POST" && res.StatusCode == http.StatusConflict, r.method == "DELETE" && gone:
		return false, nil
	case res.StatusCode >= 500, res.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("CRM answered %s", res.Status)
	}
	// The CRM refused what was sent (a 4xx other than 429): sending the
	// same again cannot help, so the event goes to the dead letters now
	// instead of holding up the ones behind it.
	return false, sdk.Permanent(fmt.Errorf("CRM refused the %s: %s", r.what, res.Status))
}

func (s *crmsync) markSent(id string) error {
	s.sent[id] = true
	if s.cfg.StateFile == "" {
		return nil
	}
	f, err := os.OpenFile(s.cfg.StateFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, id); err != nil {
		return err
	}
	return f.Sync()
}

func main() {
	path := flag.String("config", "", "the plugin's YAML file")
	flag.Parse()
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crmsync:", err)
		os.Exit(1)
	}
	s, err := newCRMSync(cfg, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crmsync:", err)
		os.Exit(1)
	}
	sdk.Serve(s)
}
