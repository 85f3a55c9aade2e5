package ce

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
)

// ToEvent is binding.ToEvent, with a panic inside the SDK returned as an
// error: sdk-go v2.16.2's structured-mode reader panics on some envelopes
// (a data_base64 that is not a JSON string), and a function's handler
// would then drop the connection without an answer, so a client learned
// nothing and a KafkaSource retried a request that will never succeed.
func ToEvent(ctx context.Context, m binding.Message) (e *event.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("the CloudEvents SDK could not read this event (it failed with %v): a malformed envelope", r)
		}
	}()
	return binding.ToEvent(ctx, m)
}
