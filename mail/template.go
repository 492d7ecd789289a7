package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
)

// Template names: each is NAME.txt (text/template, which also defines
// "subject") and NAME.html (html/template).
const (
	TemplateSignin             = "signin"
	TemplateWelcome            = "welcome"
	TemplateCommissionApproved = "commission_approved"
	TemplatePayoutSent         = "payout_sent"
)

// templateNames lists every template, in the order docs/email.md does.
var templateNames = []string{TemplateSignin, TemplateWelcome, TemplateCommissionApproved, TemplatePayoutSent}

//go:embed templates
var embedded embed.FS

// Person is the ambassador a message is for.
type Person struct {
	FirstName string
	LastName  string
	// Name is the first and last name.
	Name string
}

// Links are the portal's addresses every template gets.
type Links struct {
	// PortalURL is the portal's home, BaseURL + "/portal/".
	PortalURL string
	// LoginURL is where an ambassador asks for a new sign-in link,
	// BaseURL + "/portal/login".
	LoginURL string
}

// SigninData is what the signin and welcome templates get.
type SigninData struct {
	Ambassador Person
	Links
	// SigninURL is the one-time sign-in link, made when the message is
	// sent. It is the only place the token ever appears.
	SigninURL string
	// ExpiresIn says how long the link works: "15 minutes".
	ExpiresIn string
}

// CommissionData is what the commission_approved template gets.
type CommissionData struct {
	Ambassador Person
	Links
	// Program is the program's name ("" if it could not be read).
	Program string
	// Amount is the formatted amount: "USD 12.50".
	Amount string
	// Kind is "earning" (a commission on a purchase) or "bounty" (a
	// signup bonus).
	Kind string
	// CommissionsURL is the portal's list of commissions.
	CommissionsURL string
}

// PayoutData is what the payout_sent template gets.
type PayoutData struct {
	Ambassador Person
	Links
	// Amount is the formatted amount paid: "USD 120.00".
	Amount string
	// Reference is the payment's reference (a bank transfer's, say).
	Reference string
	// Commissions is how many commissions the payout paid.
	Commissions int
	// PayoutsURL is the portal's list of payouts.
	PayoutsURL string
}

// sampleData is what each template is rendered with at startup, so a
// broken override fails then, not when the first message is sent.
func sampleData(name string) any {
	amb := Person{FirstName: "Ada", LastName: "Lovelace", Name: "Ada Lovelace"}
	links := Links{PortalURL: "https://referrals.example.edu/portal/", LoginURL: "https://referrals.example.edu/portal/login"}
	switch name {
	case TemplateSignin, TemplateWelcome:
		return SigninData{Ambassador: amb, Links: links, ExpiresIn: "15 minutes",
			SigninURL: "https://referrals.example.edu/portal/signin?token=sample"}
	case TemplateCommissionApproved:
		return CommissionData{Ambassador: amb, Links: links, Program: "Spring Campus", Amount: "USD 12.50", Kind: "earning",
			CommissionsURL: "https://referrals.example.edu/portal/commissions"}
	case TemplatePayoutSent:
		return PayoutData{Ambassador: amb, Links: links, Amount: "USD 120.00", Reference: "TRF-2026-0042", Commissions: 3,
			PayoutsURL: "https://referrals.example.edu/portal/payouts"}
	}
	panic("mail: no sample data for template " + name)
}

// template is one message's parsed templates.
type template struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// rendered is a message's subject and bodies.
type rendered struct {
	subject, text, html string
}

// loadTemplates parses the embedded templates, each replaced by the file
// of the same name in dir when dir is set and has one, and renders each
// with sample data. An error names the file at fault.
func loadTemplates(dir string, log *slog.Logger) (map[string]*template, error) {
	known := map[string]bool{}
	for _, name := range templateNames {
		known[name+".txt"], known[name+".html"] = true, true
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("email templates folder: %w", err)
		}
		for _, e := range entries {
			if !known[e.Name()] && !e.IsDir() {
				log.Warn("email templates folder: file ignored; it has the name of no template", "file", filepath.Join(dir, e.Name()),
					"templates", strings.Join(templateNames, ", "))
			}
		}
	}
	read := func(file string) (src []byte, where string, err error) {
		if dir != "" {
			where = filepath.Join(dir, file)
			src, err = os.ReadFile(where)
			if err == nil {
				log.Info("email template overridden", "file", where)
				return src, where, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, where, fmt.Errorf("email template %s: %w", where, err)
			}
		}
		src, err = embedded.ReadFile("templates/" + file)
		return src, "embedded " + file, err
	}
	out := map[string]*template{}
	for _, name := range templateNames {
		t := &template{}
		src, where, err := read(name + ".txt")
		if err != nil {
			return nil, err
		}
		if t.text, err = texttemplate.New(name + ".txt").Option("missingkey=error").Parse(string(src)); err != nil {
			return nil, fmt.Errorf("email template %s: %w", where, err)
		}
		if t.text.Lookup("subject") == nil {
			return nil, fmt.Errorf(`email template %s: it defines no subject: add {{define "subject"}}...{{end}}`, where)
		}
		txtWhere := where
		if src, where, err = read(name + ".html"); err != nil {
			return nil, err
		}
		if t.html, err = htmltemplate.New(name + ".html").Option("missingkey=error").Parse(string(src)); err != nil {
			return nil, fmt.Errorf("email template %s: %w", where, err)
		}
		if _, err := t.render(sampleData(name)); err != nil {
			// render names the part that failed; say which file it is.
			if strings.Contains(err.Error(), name+".html") {
				return nil, fmt.Errorf("email template %s: does not render with sample data: %w", where, err)
			}
			return nil, fmt.Errorf("email template %s: does not render with sample data: %w", txtWhere, err)
		}
		out[name] = t
	}
	return out, nil
}

// render executes the subject, the text and the HTML.
func (t *template) render(data any) (rendered, error) {
	var subj, text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&subj, "subject", data); err != nil {
		return rendered{}, err
	}
	if err := t.text.Execute(&text, data); err != nil {
		return rendered{}, err
	}
	if err := t.html.Execute(&html, data); err != nil {
		return rendered{}, err
	}
	// A subject is one line, whatever the template's spacing.
	subject := strings.Join(strings.Fields(subj.String()), " ")
	if subject == "" {
		return rendered{}, fmt.Errorf("template %s.txt: the subject is empty", strings.TrimSuffix(t.text.Name(), ".txt"))
	}
	return rendered{subject: subject, text: strings.TrimLeft(text.String(), "\n"), html: html.String()}, nil
}
