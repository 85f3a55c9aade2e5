package function

import (
	"testing"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

// FuzzDelivery: no input makes the notify function panic or answer 500, and
// every refusal names the field (see handlertest.FuzzDelivery). Run with
// go test -fuzz FuzzDelivery; testdata/fuzz holds the committed corpus.
func FuzzDelivery(f *testing.F) {
	handlertest.FuzzDelivery(f, New(), events.OrderConfirmed, events.OrderCancelled, events.OrderCreated, "com.example.unknown.v1")
}
