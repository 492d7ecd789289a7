package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/referrald/referrald/api"
)

// contract is the OpenAPI document the server serves at /openapi.json,
// loaded once; env.call holds every response of every test against it, so
// that code and document cannot drift apart unnoticed.
var contract struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// framingHeaders are set for transport rather than as part of an
// operation's answer, and need no mention in the document (OpenAPI says
// a Content-Type response header is described by the content map).
var framingHeaders = []string{"Content-Type", "Content-Length"}

// formats asserts the string formats the document uses beyond date-time,
// which kin-openapi checks on its own.
var formats = map[string]openapi3.StringFormatValidator{
	"email": openapi3.NewCallbackValidator(func(s string) error {
		_, err := mail.ParseAddress(s)
		return err
	}),
	"uri": openapi3.NewCallbackValidator(func(s string) error {
		if u, err := url.Parse(s); err != nil || !u.IsAbs() {
			return fmt.Errorf("%q is not an absolute URI", s)
		}
		return nil
	}),
	"uri-reference": openapi3.NewCallbackValidator(func(s string) error {
		_, err := url.Parse(s)
		return err
	}),
}

func loadContract() (*openapi3.T, routers.Router, error) {
	contract.once.Do(func() {
		// What a server answers at /openapi.json, not the file in the tree.
		w := httptest.NewRecorder()
		api.New(api.Services{}, api.Config{}).ServeHTTP(w, httptest.NewRequest("GET", "/openapi.json", nil))
		if w.Code != http.StatusOK {
			contract.err = fmt.Errorf("GET /openapi.json: %d", w.Code)
			return
		}
		contract.doc, contract.err = openapi3.NewLoader().LoadFromData(w.Body.Bytes())
		if contract.err != nil {
			return
		}
		// The legacy router validates the document as it is built.
		contract.router, contract.err = legacy.NewRouter(contract.doc)
		if contract.err != nil {
			return
		}
		// Binary and text bodies are checked for their media type only.
		for _, ct := range []string{"image/png", "image/svg+xml", "application/pdf", "text/html"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
		}
	})
	return contract.doc, contract.router, contract.err
}

// checkContract returns what in res the document does not allow for req:
// an undocumented operation, status, header or content type, a missing
// required header, or a body that does not match its schema.
func checkContract(req *http.Request, res response) []error {
	doc, router, err := loadContract()
	if err != nil {
		return []error{fmt.Errorf("openapi.json: %w", err)}
	}
	name := req.Method + " " + req.URL.Path
	route, params, err := router.FindRoute(req)
	if err == nil && !matchesExactly(route.Path, req.URL.Path) {
		// kin-openapi's router forgives a trailing slash; the server does
		// not, as the contract says.
		err = routers.ErrPathNotFound
	}
	if err != nil {
		// No operation: the router's own 404 or 405, which must still be
		// a documented problem.
		if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
			return []error{fmt.Errorf("%s is not in the document (%v), yet answered %d", name, err, res.Status)}
		}
		return checkProblem(doc, name, res)
	}
	name = req.Method + " " + route.Path
	var problems []error
	resp := route.Operation.Responses.Status(res.Status)
	if resp == nil {
		resp = route.Operation.Responses.Default()
	}
	if resp == nil || resp.Value == nil {
		return []error{fmt.Errorf("%s: status %d is not documented (body %.300s)", name, res.Status, res.Body)}
	}
	for key := range res.Header {
		if slices.Contains(framingHeaders, key) {
			continue
		}
		if !hasHeader(resp.Value.Headers, key) {
			problems = append(problems, fmt.Errorf("%s %d: header %s is not documented", name, res.Status, key))
		}
	}
	if len(resp.Value.Content) == 0 {
		if len(res.Body) > 0 {
			problems = append(problems, fmt.Errorf("%s %d: a body where none is documented: %.300s", name, res.Status, res.Body))
		}
		if ct := res.Header.Get("Content-Type"); ct != "" {
			problems = append(problems, fmt.Errorf("%s %d: Content-Type %s where no body is documented", name, res.Status, ct))
		}
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.Status,
		Header:                 res.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{
				openapi3.WithStringFormatValidators(formats),
			},
		},
	}
	input.Options.WithCustomSchemaErrorFunc(schemaError)
	input.SetBodyBytes(res.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		problems = append(problems, fmt.Errorf("%s %d: %w (body %.300s)", name, res.Status, err, res.Body))
	}
	return problems
}

// checkProblem checks an answer outside every operation: a problem+json
// body of the document's Problem schema.
func checkProblem(doc *openapi3.T, name string, res response) []error {
	if ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); ct != "application/problem+json" {
		return []error{fmt.Errorf("%s %d: Content-Type %q, want application/problem+json", name, res.Status, res.Header.Get("Content-Type"))}
	}
	var v any
	if err := json.Unmarshal(res.Body, &v); err != nil {
		return []error{fmt.Errorf("%s %d: not JSON: %w", name, res.Status, err)}
	}
	if err := doc.Components.Schemas["Problem"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors(),
		openapi3.WithStringFormatValidators(formats)); err != nil {
		return []error{fmt.Errorf("%s %d: body does not match Problem: %w", name, res.Status, err)}
	}
	return nil
}

// matchesExactly reports whether path fills in template segment for
// segment.
func matchesExactly(template, path string) bool {
	ts, ps := strings.Split(template, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i, t := range ts {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if ps[i] == "" {
				return false
			}
		} else if t != ps[i] {
			return false
		}
	}
	return true
}

// schemaError says where a value breaks its schema and how, without
// kin-openapi's dump of the whole schema.
func schemaError(err *openapi3.SchemaError) string {
	return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
}

func hasHeader(headers openapi3.Headers, key string) bool {
	for name := range headers {
		if strings.EqualFold(name, key) {
			return true
		}
	}
	return false
}
