package function

import (
	"testing"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

// FuzzDelivery: no input makes the payment function panic or answer 500, and
// every refusal names the field (see handlertest.FuzzDelivery). Run with
// go test -fuzz FuzzDelivery; testdata/fuzz holds the committed corpus.
func FuzzDelivery(f *testing.F) {
	if handlertest.OnPostgres() {
		// The gateway's ledger goes beside a SQLite store by default; on
		// PostgreSQL it needs a database of its own (see start).
		f.Setenv("PAYMENT_GATEWAY_DATABASE_URL", handlertest.NewDatabase(f, "gateway"))
	}
	handlertest.FuzzDelivery(f, New(), events.OrderCreated, events.InventoryReserved, events.OrderCancelled, events.PaymentQuery, "com.example.unknown.v1")
}
