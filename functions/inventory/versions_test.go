package function

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
)

// Inventory holds stock for order.created's lines. Replaying the committed
// v1 log, or a mix of v1 and v2 records, into a fresh inventory function
// reserves, rejects, releases and publishes exactly what the v2 log does.
func TestALogOfBothVersionsHoldsStockLikeV2Only(t *testing.T) {
	v1, v2 := handlertest.ReadLog(t, handlertest.V1Log), handlertest.ReadLog(t, handlertest.V2Log)
	run := func(t *testing.T, log []event.Event) ([]string, events.InventoryViewData) {
		h := handlertest.Start(t, New(), nil)
		return handlertest.Published(h.Replay(t, log)), view(t, h)
	}
	wantOut, wantView := run(t, v2)
	stock := map[string]events.StockLevel{}
	for _, l := range wantView.Stock {
		stock[l.SKU] = l
	}
	// Four orders held stock and one of them released it; two were refused.
	if len(wantOut) != 7 || stock["sku-tee"].Sold != 2 || stock["sku-lamp"].Sold != 1 || stock["sku-cap"].Reserved+stock["sku-cap"].Sold != 0 || wantView.OpenReservations != 0 {
		t.Fatalf("the v2 log: published %v, stock %+v", wantOut, wantView)
	}
	for name, log := range map[string][]event.Event{
		"v1 only":                      v1,
		"confirmed in v1, the rest v2": handlertest.MixLogs(t, v1, v2, func(id string) bool { return strings.HasPrefix(id, "v1-confirmed") }),
		"cancelled in v1, the rest v2": handlertest.MixLogs(t, v1, v2, func(id string) bool { return !strings.HasPrefix(id, "v1-confirmed") }),
	} {
		t.Run(name, func(t *testing.T) {
			out, v := run(t, log)
			if !reflect.DeepEqual(out, wantOut) || !reflect.DeepEqual(v, wantView) {
				t.Fatalf("published %v\nstock %+v\nwant %v\n%+v", out, v, wantOut, wantView)
			}
		})
	}
}
