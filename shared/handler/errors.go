package handler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"orderflow.dev/shared/store"
)

var timeNow = func() time.Time { return time.Now().UTC() }

// Refusal is an error with the HTTP status it must be answered with.
// Knative's dispatcher retries 404, 408, 409, 429 and 5xx and dead-letters
// any other 4xx at once, so the status is the retry decision.
type Refusal struct {
	Status int
	Field  string
	Msg    string
	cause  error
}

func (r *Refusal) Error() string {
	if r.Field == "" {
		return r.Msg
	}
	return r.Field + ": " + r.Msg
}

func (r *Refusal) Unwrap() error { return r.cause }

// Invalid refuses an event whose content is wrong (400): retrying cannot
// help, so it goes to the dead-letter sink with this message.
func Invalid(field, format string, args ...any) *Refusal {
	return &Refusal{Status: http.StatusBadRequest, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Unprocessable refuses a well-formed event that breaks a business rule
// (422), such as an order for a SKU the catalog does not sell.
func Unprocessable(field, format string, args ...any) *Refusal {
	return &Refusal{Status: http.StatusUnprocessableEntity, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Retry asks for redelivery later (503), for a condition expected to pass,
// such as an event that overtook the one it depends on.
func Retry(format string, args ...any) *Refusal {
	return &Refusal{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf(format, args...)}
}

// Conflict reports a lost optimistic-concurrency race (409, retried): another
// delivery changed the aggregate first; the retry sees the new version.
func Conflict(format string, args ...any) *Refusal {
	return &Refusal{Status: http.StatusConflict, Msg: fmt.Sprintf(format, args...)}
}

func classify(err error) *Refusal {
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	switch {
	case store.IsUniqueViolation(err):
		return &Refusal{Status: http.StatusConflict, Msg: "concurrent update; retry: " + shorten(err.Error(), 300), cause: err}
	case store.IsInvalidData(err):
		// The store cannot hold something this event carries; it never will.
		return &Refusal{Status: http.StatusBadRequest, Field: "event", Msg: "the store refuses this event's data: " + shorten(err.Error(), 300), cause: err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &Refusal{Status: http.StatusServiceUnavailable, Msg: "timed out: " + err.Error(), cause: err}
	}
	return &Refusal{Status: http.StatusInternalServerError, Msg: shorten(err.Error(), 500), cause: err}
}
