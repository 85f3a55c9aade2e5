// Package cedecode reads CloudEvents from what anyone may have written (a
// Kafka record, an HTTP request) without letting the SDK's reader take
// the process down.
//
// sdk-go v2.16.2's structured-mode reader panics on some envelopes (a
// data_base64 that is not a JSON string: a slice out of range in
// event.consumeDataAsBytes). On a KafkaSource's goroutine that panic ended
// the plane, and one hostile record would do it again on every restart;
// on an HTTP handler it dropped the connection without an answer. Here it
// is an error like any other malformed event: the record is delivered as
// a plain one, the request refused with 400.
package cedecode

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
)

// ToEvent is binding.ToEvent, with a panic inside the SDK returned as an
// error.
func ToEvent(ctx context.Context, m binding.Message) (e *event.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("the CloudEvents SDK could not read this event (it failed with %v): a malformed envelope, e.g. a data_base64 that is not a string", r)
		}
	}()
	return binding.ToEvent(ctx, m)
}
