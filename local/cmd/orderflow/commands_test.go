package main

import (
	"regexp"
	"strings"
	"testing"

	"orderflow.dev/shared/events"
)

func TestPlaceOptionsValidate(t *testing.T) {
	good := flagDefaults(&PlaceOptions{}, (*PlaceOptions).addFlags)
	good.SKUs = []string{"sku-tee:2"}
	testValidate(t, good, (*PlaceOptions).Validate, []validateCase[PlaceOptions]{
		{"one line", func(*PlaceOptions) {}, ""},
		{"an id and two lines", func(o *PlaceOptions) { o.ID, o.SKUs = "ord-mine", []string{"sku-tee:2", "sku-mug:1"} }, ""},
		{"no line", func(o *PlaceOptions) { o.SKUs = nil }, "--sku is required: give at least one line as SKU:QUANTITY, e.g. --sku sku-tee:2"},
		{"no quantity", func(o *PlaceOptions) { o.SKUs = []string{"sku-tee"} }, `--sku "sku-tee": want SKU:QUANTITY, e.g. sku-tee:2`},
		{"quantity 0", func(o *PlaceOptions) { o.SKUs = []string{"sku-tee:0"} }, `--sku "sku-tee:0": quantity "0" must be a whole number of at least 1`},
		{"an id with a blank", func(o *PlaceOptions) { o.ID = "my order" }, `invalid order: --id: 'my order' does not match pattern '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'`},
		{"no customer", func(o *PlaceOptions) { o.Customer = "" }, "invalid order: --customer: minLength: got 0, want 1"},
		{"brokers without a port", func(o *PlaceOptions) { o.Brokers.servers = []string{"kafka"} }, `--brokers "kafka": want host:port`},
	})
}

// Without --id, Complete makes one up; with --brokers it reads no state
// directory (there is no running up to find).
func TestPlaceCompleteMakesUpTheIDAndWithBrokersFindsNoUp(t *testing.T) {
	o := flagDefaults(&PlaceOptions{}, (*PlaceOptions).addFlags)
	o.SKUs, o.Brokers.servers = []string{"sku-tee:1"}, []string{"127.0.0.1:9092"}
	if err := o.Complete(&globals{stateDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^ord-[0-9a-f]{8}$`).MatchString(o.ID) || o.order.OrderID != o.ID {
		t.Errorf("id %q, order's %q: want a new ord-xxxxxxxx on both", o.ID, o.order.OrderID)
	}
	if o.client != nil {
		t.Error("with --brokers, Complete found a running up")
	}
}

func TestOrderOptionsValidate(t *testing.T) {
	good := flagDefaults(&OrderOptions{}, (*OrderOptions).addFlags)
	testValidate(t, good, (*OrderOptions).Validate, []validateCase[OrderOptions]{
		{"the running up's", func(*OrderOptions) {}, ""},
		{"brokers", func(o *OrderOptions) { o.Brokers.servers = []string{"127.0.0.1:9092"} }, ""},
		{"brokers without a port", func(o *OrderOptions) { o.Brokers.servers = []string{"kafka"} }, `--brokers "kafka": want host:port`},
	})
}

func TestStatsOptionsValidate(t *testing.T) {
	testValidate(t, StatsOptions{}, (*StatsOptions).Validate, []validateCase[StatsOptions]{
		{"the running up's", func(*StatsOptions) {}, ""},
		{"brokers without a port", func(o *StatsOptions) { o.Brokers.servers = []string{"127.0.0.1"} }, `--brokers "127.0.0.1": want host:port`},
	})
}

// Placing under an existing order's id: the same placement is no
// conflict (a retry), another one is named before it is sent.
func TestPlacementConflict(t *testing.T) {
	order := events.PlaceOrderData{OrderID: "ord-1", CustomerID: "c", Currency: "EUR", Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}}
	existing := events.OrderViewData{OrderID: "ord-1", Found: true, Status: "confirmed", CustomerID: "c", Currency: "EUR",
		Lines: []events.PricedLine{{SKU: "sku-tee", Quantity: 1, UnitPriceCents: 1500}}}
	if why := placementConflict(existing, order); why != "" {
		t.Errorf("the same placement: %s", why)
	}
	if why := placementConflict(events.OrderViewData{OrderID: "ord-1"}, order); why != "" {
		t.Errorf("no order yet: %s", why)
	}
	other := order
	other.Lines = []events.Line{{SKU: "sku-mug", Quantity: 3}}
	if why := placementConflict(existing, other); !strings.Contains(why, "already exists (confirmed)") || !strings.Contains(why, "lines sku-tee:1") {
		t.Errorf("other lines: %q", why)
	}
	other = order
	other.Currency = "USD"
	if why := placementConflict(existing, other); !strings.Contains(why, "currency EUR, not USD") {
		t.Errorf("other currency: %q", why)
	}
}
