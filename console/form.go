package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/referrald/referrald/model"
)

// field describes one input of a form: what it is called, how it is
// drawn, and which of the model's field errors belong to it.
type field struct {
	// Name is the input's name, and the model's field name when the two
	// are the same ("name", "commission.currency").
	Name  string
	Label string
	// Type is the input's type: text when empty, or email, url, password,
	// number, date, textarea (which the "input" template draws as one).
	Type string
	// Hint is shown under the label, and read out with the input.
	Hint         string
	Required     bool
	Autocomplete string
	// Attrs are more attributes of the input, such as inputmode or min.
	Attrs map[string]string
	// Model names the model's fields whose errors are this input's, when
	// not Name alone; a name ending in "." takes every field under it
	// (commission.caps. takes commission.caps.USD).
	Model []string
	// Messages replace the model's message for an error code, where the
	// model speaks of what the API takes and the input takes something
	// else (a percentage for basis points).
	Messages map[string]string
}

// owns reports whether the model's field error f belongs to this input.
func (fd *field) owns(f string) bool {
	if f == fd.Name {
		return true
	}
	for _, m := range fd.Model {
		if f == m || strings.HasSuffix(m, ".") && strings.HasPrefix(f, m) {
			return true
		}
	}
	return false
}

// form is a page's form: its fields in page order, the values the user
// sent (kept when the page is shown again), and the problems with them.
// Handlers make one with newForm, fill it from the request or a record,
// and hand it to the template, which draws each input with
// {{template "input" .Form.Field "name"}} and the summary of problems
// with {{template "errors" .Form}}.
type form struct {
	fields []*field
	values url.Values
	errs   map[string]string
	// err is a problem with the form as a whole, shown in the summary.
	err string
}

func newForm(fields ...*field) *form {
	return &form{fields: fields, values: url.Values{}, errs: map[string]string{}}
}

// read takes the form's values from a POST's body, or a GET's query.
func (f *form) read(r *http.Request) *form {
	if err := r.ParseForm(); err != nil {
		f.Fail("The form could not be read. Reload the page and try again.")
	}
	for _, fd := range f.fields {
		if v, ok := r.Form[fd.Name]; ok {
			f.values[fd.Name] = v
		}
	}
	return f
}

// Get is the value of the input name.
func (f *form) Get(name string) string { return f.values.Get(name) }

// Set sets the value of the input name.
func (f *form) Set(name, value string) { f.values.Set(name, value) }

// Is reports whether the input name has value, for radio buttons and
// select options.
func (f *form) Is(name, value string) bool { return f.values.Get(name) == value }

// AddError records a problem with the input name; the first one stays.
func (f *form) AddError(name, msg string) {
	if _, ok := f.errs[name]; !ok {
		f.errs[name] = msg
	}
}

// Fail records a problem with the form as a whole.
func (f *form) Fail(msg string) {
	if f.err == "" {
		f.err = msg
	}
}

// HasErrors reports whether any problem was recorded.
func (f *form) HasErrors() bool { return len(f.errs) > 0 || f.err != "" }

// fromError shows err, an error of the model, on the form, and reports
// whether it could: a validation_failed's field errors go next to their
// inputs, a field no input owns and a conflict, not_found or
// rate_limited to the summary. Anything else (internal, unavailable) is
// not the user's to fix and is left to the caller to return.
func (f *form) fromError(err error) bool {
	var e *model.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case model.EValidation:
		for _, fe := range e.Fields {
			f.addFieldError(fe)
		}
		if len(e.Fields) == 0 {
			f.Fail(e.Message)
		}
		return true
	case model.EConflict, model.ENotFound, model.ERateLimited, model.EUnauthorized, model.EForbidden:
		f.Fail(sentence(e.Message))
		return true
	}
	return false
}

func (f *form) addFieldError(fe model.FieldError) {
	for _, fd := range f.fields {
		if fd.owns(fe.Field) {
			msg := fe.Message
			if m, ok := fd.Messages[fe.Code]; ok {
				msg = m
			}
			f.AddError(fd.Name, msg)
			return
		}
	}
	f.Fail(sentence(fe.Field + " " + fe.Message))
}

// sentence starts s with a capital letter and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// inputView is what the "input" template draws for one field.
type inputView struct {
	*field
	ID    string
	Value string
	Error string
}

// Field is the view of the input name, for the "input" template and for
// inputs a page draws itself (radio buttons, selects).
func (f *form) Field(name string) inputView {
	for _, fd := range f.fields {
		if fd.Name == name {
			return inputView{field: fd, ID: fieldID(name), Value: f.values.Get(name), Error: f.errs[name]}
		}
	}
	panic("console: the form has no field " + name)
}

// fieldID is the HTML id of the input name: its name, with dots (which
// CSS selectors and fragment links trip over) as dashes.
func fieldID(name string) string { return "f-" + strings.ReplaceAll(name, ".", "-") }

// problem is one line of a form's summary of problems.
type problem struct {
	// ID is the input's id, for a link to it; empty for the whole form.
	ID      string
	Message string
}

// Summary lists the form's problems in page order, each as the sentence
// the summary shows: "Landing page URL must be an absolute http or https
// URL".
func (f *form) Summary() []problem {
	var out []problem
	if f.err != "" {
		out = append(out, problem{Message: f.err})
	}
	for _, fd := range f.fields {
		if msg, ok := f.errs[fd.Name]; ok {
			out = append(out, problem{ID: fieldID(fd.Name), Message: fd.Label + " " + msg})
		}
	}
	return out
}
