package handler

import (
	"context"
	"errors"
	"net/http"
	"time"

	"orderflow.dev/shared/saga"
	"orderflow.dev/shared/store"
)

var timeNow = func() time.Time { return time.Now().UTC() }

// httpRefusal is how the edge answers an event it does not take: the HTTP
// status, and the refusal whose field and message its error body carries.
type httpRefusal struct {
	status int
	*saga.Refusal
}

// Knative's dispatcher retries 404, 408, 409, 429 and 5xx and dead-letters
// any other 4xx at once, so the status is the retry decision.
func statusOf(k saga.Kind) int {
	switch k {
	case saga.KindInvalid:
		return http.StatusBadRequest // 400: not retried
	case saga.KindUnprocessable:
		return http.StatusUnprocessableEntity // 422: not retried
	case saga.KindRetry:
		return http.StatusServiceUnavailable // 503: retried
	case saga.KindConflict:
		return http.StatusConflict // 409: retried
	}
	return http.StatusInternalServerError // unexpected: retried
}

// refusalOf gives the answer to an event whose handling failed with err:
// the edge's own answers as they are, anything else by its kind.
func refusalOf(err error) *httpRefusal {
	var r *httpRefusal
	if errors.As(err, &r) {
		return r
	}
	s := asRefusal(err)
	return &httpRefusal{status: statusOf(s.Kind), Refusal: s}
}

// asRefusal is err as a refusal: a decision's own, or what a failure of the
// store says about retrying. Anything else is unexpected and has no kind.
func asRefusal(err error) *saga.Refusal {
	var r *saga.Refusal
	if errors.As(err, &r) {
		return r
	}
	switch {
	case store.IsUniqueViolation(err):
		return saga.Conflict("concurrent update; retry: %s", shorten(err.Error(), 300))
	case store.IsInvalidData(err):
		// The store cannot hold something this event carries; it never will.
		return saga.Invalid("event", "the store refuses this event's data: %s", shorten(err.Error(), 300))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return saga.Retry("timed out: %v", err)
	}
	return &saga.Refusal{Msg: shorten(err.Error(), 500)}
}
