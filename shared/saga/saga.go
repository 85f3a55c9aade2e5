// Package saga is what a step of the orderflow saga decides about one
// event, free of any transport: the events to emit once the step's
// transaction commits, or a refusal of the event saying what kind of
// problem it is. The decisions of the functions (their decide.go files)
// speak only this; the HTTP edge (package handler) turns a refusal's kind
// into the status that tells Knative's dispatcher whether to retry.
package saga

import (
	"errors"
	"fmt"
)

// Emit is one event a decision wants published once its transaction
// commits.
type Emit struct {
	Type string
	Data any
}

// Kind is what is wrong with a refused event, and so whether delivering it
// again can help.
type Kind string

const (
	// KindInvalid: the event's content is wrong. Retrying cannot help; it
	// is dead-lettered with the refusal's message.
	KindInvalid Kind = "invalid"
	// KindUnprocessable: a well-formed event breaks a business rule (an
	// order for a SKU the catalog does not sell). Not retried either.
	KindUnprocessable Kind = "unprocessable"
	// KindRetry: a condition expected to pass (an event that overtook the
	// one it depends on, a gateway that did not answer). Delivered again.
	KindRetry Kind = "retry"
	// KindConflict: the step lost an optimistic-concurrency race; another
	// delivery changed the aggregate first and the retry sees its change.
	KindConflict Kind = "conflict"
)

// Refusal is a decision not to take an event, as an error.
type Refusal struct {
	Kind  Kind
	Field string // what in the event is at fault; "" when not one field
	Msg   string
}

func (r *Refusal) Error() string {
	if r.Field == "" {
		return r.Msg
	}
	return r.Field + ": " + r.Msg
}

// Invalid refuses an event whose content is wrong: retrying cannot help,
// so it goes to the dead-letter sink with this message.
func Invalid(field, format string, args ...any) *Refusal {
	return &Refusal{Kind: KindInvalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Unprocessable refuses a well-formed event that breaks a business rule,
// such as an order for a SKU the catalog does not sell.
func Unprocessable(field, format string, args ...any) *Refusal {
	return &Refusal{Kind: KindUnprocessable, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Retry asks for the event again later, for a condition expected to pass,
// such as an event that overtook the one it depends on.
func Retry(format string, args ...any) *Refusal {
	return &Refusal{Kind: KindRetry, Msg: fmt.Sprintf(format, args...)}
}

// Conflict reports a lost optimistic-concurrency race: another delivery
// changed the aggregate first; the retry sees the new version.
func Conflict(format string, args ...any) *Refusal {
	return &Refusal{Kind: KindConflict, Msg: fmt.Sprintf(format, args...)}
}

// KindOf is the kind of the refusal err is or wraps; "" if it is none.
func KindOf(err error) Kind {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Kind
	}
	return ""
}
