package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/referrald/referrald/model"
)

// problemBase prefixes every problem type URI.
const problemBase = "https://referrald.dev/problems/"

// statusOf maps each error code to its HTTP status: the contract's error
// table, in one place.
var statusOf = map[string]int{
	model.EInvalidJSON:          http.StatusBadRequest,
	model.EValidation:           http.StatusBadRequest,
	model.ERejectedByHook:       http.StatusBadRequest,
	model.EUnauthorized:         http.StatusUnauthorized,
	model.EForbidden:            http.StatusForbidden,
	model.ENotFound:             http.StatusNotFound,
	model.EMethodNotAllowed:     http.StatusMethodNotAllowed,
	model.EConflict:             http.StatusConflict,
	model.EBodyTooLarge:         http.StatusRequestEntityTooLarge,
	model.EUnsupportedMedia:     http.StatusUnsupportedMediaType,
	model.EIdempotencyKeyReused: http.StatusUnprocessableEntity,
	model.ERateLimited:          http.StatusTooManyRequests,
	model.EUnavailable:          http.StatusServiceUnavailable,
	model.EInternal:             http.StatusInternalServerError,
}

var titleOf = map[string]string{
	model.EInvalidJSON:          "Request body is not a JSON object",
	model.EValidation:           "Request validation failed",
	model.ERejectedByHook:       "Rejected by a hook plugin",
	model.EUnauthorized:         "Unauthorized",
	model.EForbidden:            "Forbidden",
	model.ENotFound:             "Not found",
	model.EMethodNotAllowed:     "Method not allowed",
	model.EConflict:             "Conflict",
	model.EBodyTooLarge:         "Request body too large",
	model.EUnsupportedMedia:     "Unsupported media type",
	model.EIdempotencyKeyReused: "Idempotency key reused",
	model.ERateLimited:          "Too many requests",
	model.EUnavailable:          "Service unavailable",
	model.EInternal:             "Internal error",
}

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Code   string             `json:"code"`
	Detail string             `json:"detail"`
	Errors []model.FieldError `json:"errors,omitempty"`
	// ErrorsOmitted counts the field errors past maxFieldErrors that
	// are not listed (an extension member).
	ErrorsOmitted int `json:"errors_omitted,omitempty"`
}

// maxFieldErrors is how many field errors one problem lists. A request
// with thousands of unknown parameters would otherwise be answered with a
// document many times its own size.
const maxFieldErrors = 50

// writeError answers with err as problem+json. An error that is not a
// *model.Error is logged with its cause and reaches the client only as
// "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var me *model.Error
	if !errors.As(err, &me) {
		s.log.ErrorContext(r.Context(), "internal error", "route", routeOf(r), "request_id", requestIDOf(r), "err", err)
		me = &model.Error{Code: model.EInternal, Message: "internal error"}
	}
	status, ok := statusOf[me.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	switch me.Code {
	case model.EUnauthorized:
		// Exactly as the contract gives it, whether a token was sent or
		// not; RFC 6750 makes the error attribute optional.
		w.Header().Set("WWW-Authenticate", "Bearer")
	case model.EUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(1))
	}
	p := problem{
		Type: problemBase + me.Code, Title: titleOf[me.Code], Status: status, Code: me.Code,
		Detail: me.Message, Errors: me.Fields,
	}
	if n := len(p.Errors); n > maxFieldErrors {
		p.Errors, p.ErrorsOmitted = p.Errors[:maxFieldErrors], n-maxFieldErrors
		p.Detail = fmt.Sprintf("%s; the first %d are listed, %d more are not", me.Message, maxFieldErrors, p.ErrorsOmitted)
	}
	writeProblem(w, status, p)
}

func writeProblem(w http.ResponseWriter, status int, p problem) {
	writeBody(w, status, "application/problem+json", p)
}
