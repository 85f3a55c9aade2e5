package function

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

var gatewayID = regexp.MustCompile(`"paymentId":"ch_[0-9a-f]+"`)

// Payment charges order.created's total, joined with inventory.reserved.
// Replaying the committed v1 log, or a mix of v1 and v2 records, into a
// fresh payment function charges, declines and publishes exactly what the
// v2 log does.
func TestALogOfBothVersionsChargesLikeV2Only(t *testing.T) {
	v1, v2 := handlertest.ReadLog(t, handlertest.V1Log), handlertest.ReadLog(t, handlertest.V2Log)
	run := func(t *testing.T, log []event.Event) ([]string, map[string]events.LedgerEntry) {
		h := start(t, New(), nil)
		out := handlertest.Published(h.Replay(t, log))
		for i := range out {
			out[i] = gatewayID.ReplaceAllString(out[i], `"paymentId":"ch_(gateway's)"`) // new on every charge
		}
		return out, ledger(t, h)
	}
	wantOut, wantLedger := run(t, v2)
	if len(wantOut) != 4 || len(wantLedger) != 4 || wantLedger["v1-confirmed-1"].ChargedCents != 4200 || wantLedger["v1-declined"].Declines != 1 {
		t.Fatalf("the v2 log: published %v, ledger %+v", wantOut, wantLedger)
	}
	for name, log := range map[string][]event.Event{
		"v1 only":                      v1,
		"confirmed in v1, the rest v2": handlertest.MixLogs(t, v1, v2, func(id string) bool { return strings.HasPrefix(id, "v1-confirmed") }),
		"declined in v1, the rest v2":  handlertest.MixLogs(t, v1, v2, func(id string) bool { return id == "v1-declined" }),
	} {
		t.Run(name, func(t *testing.T) {
			out, led := run(t, log)
			if !reflect.DeepEqual(out, wantOut) || !reflect.DeepEqual(led, wantLedger) {
				t.Fatalf("published %v\nledger %+v\nwant %v\n%+v", out, led, wantOut, wantLedger)
			}
		})
	}
}
