package nemesis

import (
	"bufio"
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/source"
	"orderflow.dev/shared/events"
)

func TestParseTarget(t *testing.T) {
	for _, c := range []struct {
		in      string
		fn      string
		replica int
	}{{"payment", "payment", 0}, {"payment/2", "payment", 2}, {"payment/x", "payment/x", 0}, {"payment/-1", "payment/-1", 0}, {"", "", 0}} {
		if fn, r := ParseTarget(c.in); fn != c.fn || r != c.replica {
			t.Errorf("ParseTarget(%q) = %q, %d; want %q, %d", c.in, fn, r, c.fn, c.replica)
		}
	}
}

// Overlapping windows of one kind keep its switch on until the last
// heals: on once, off once.
func TestOverlappingWindowsSwitchOnceEachWay(t *testing.T) {
	n := &nemesis{start: time.Now(), switches: map[Kind]int{}}
	var mu sync.Mutex
	var calls []bool
	set := func(on bool) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, on)
		return nil
	}
	var wg sync.WaitGroup
	first := Fault{Kind: DuplicateDelivery, For: 200 * time.Millisecond}
	second := Fault{Kind: DuplicateDelivery, For: 400 * time.Millisecond}
	var began1, began2 time.Duration
	wg.Go(func() { _ = n.window(context.Background(), first, set, &began1) })
	time.Sleep(50 * time.Millisecond) // the second opens inside the first
	wg.Go(func() { _ = n.window(context.Background(), second, set, &began2) })
	wg.Wait()
	if began1 <= 0 || began2 <= began1 {
		t.Errorf("windows began at %s and %s: the second opened inside the first", began1, began2)
	}
	if !reflect.DeepEqual(calls, []bool{true, false}) {
		t.Fatalf("switch calls %v, want on then off", calls)
	}
}

// A fault the runner cannot inject is recorded as not injected, with why.
func TestAKindWithoutInjectionIsNotRecordedInjected(t *testing.T) {
	n := &nemesis{start: time.Now(), switches: map[Kind]int{}}
	in := n.inject(context.Background(), Fault{Kind: StopDatabase, For: time.Second})
	if in.Injected || !strings.Contains(in.Err, "SQLite") || !strings.Contains(in.String(), "NOT injected") {
		t.Fatalf("%+v", in)
	}
	for _, k := range Injectable {
		if _, why := NotInjectable[k]; why {
			t.Errorf("%s is both injectable and not", k)
		}
	}
}

func TestParseBacklog(t *testing.T) {
	page := `# HELP orderflow_outbox_backlog Events committed and not yet published.
# TYPE orderflow_outbox_backlog gauge
orderflow_outbox_backlog{function="order"} 3
orderflow_outbox_backlog_age_seconds{function="order"} 12
orderflow_outbox_backlog{function="order-ledger"} 2
`
	if n, err := ParseBacklog(bufio.NewScanner(strings.NewReader(page))); n != 5 || err != nil {
		t.Fatalf("backlog %d, %v; want 5", n, err)
	}
	if _, err := ParseBacklog(bufio.NewScanner(strings.NewReader(`orderflow_outbox_backlog{function="x"} many`))); err == nil {
		t.Fatal("a bad sample was read")
	}
}

func record(t *testing.T, typ string, data any, id string) kafkalog.Record {
	t.Helper()
	e, err := events.New(typ, data, nil, "/test")
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		e.SetID(id)
	}
	return kafkalog.Record{Topic: "t", Event: &e}
}

// Redelivered copies of a notification count once; two notifications of
// one order count twice.
func TestCountNotifications(t *testing.T) {
	sent := func(order, nid, id string) kafkalog.Record {
		return record(t, events.NotificationSent, events.NotificationSentData{OrderID: order, NotificationID: nid, Channel: "email", Outcome: "confirmed", Recipient: "a@b.c"}, id)
	}
	recs := []kafkalog.Record{sent("o1", "n1", "e1"), sent("o1", "n1", "e1"), sent("o2", "n2", "e2"), sent("o2", "n3", "e3"), {Topic: "t"}}
	got := CountNotifications(recs)
	if !reflect.DeepEqual(got, map[string]int{"o1": 1, "o2": 2}) {
		t.Fatalf("counts %v", got)
	}
}

func TestDeadLetterOf(t *testing.T) {
	r := record(t, events.PaymentCompleted, map[string]any{"orderId": "o9"}, "")
	r.Partition, r.Offset = 1, 4
	r.Event.SetExtension(source.ErrorCodeExtension, "503")
	r.Event.SetExtension(source.ErrorDestExtension, "http://127.0.0.1:1/")
	l := DeadLetterOf("payment", r)
	if l.OrderID != "o9" || l.Function != "payment" || l.ID != "t/1/4" || !strings.Contains(l.Reason, "503") || l.Replayed || l.Explained != "" {
		t.Fatalf("%+v", l)
	}
	if l := DeadLetterOf("order", kafkalog.Record{Topic: "t", Key: "o3"}); l.OrderID != "o3" || l.Reason != "not a CloudEvent" {
		t.Fatalf("%+v", l)
	}
}

func TestSeedsAndStatus(t *testing.T) {
	if got := Seeds(7, 3); !reflect.DeepEqual(got, []uint64{7, 8, 9}) {
		t.Errorf("Seeds(7, 3) = %v", got)
	}
	for in, want := range map[string]string{"confirmed": "confirmed", "cancelled": "cancelled", "pending": "", "": ""} {
		if got := TerminalStatus(in); got != want {
			t.Errorf("TerminalStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigParamsAndValidate(t *testing.T) {
	cfg := Config{Orders: 500, Rate: 50, MinFaults: 1, MaxFaults: 3, SettleBound: time.Minute}
	if p := cfg.Params(); p.Run != 10*time.Second {
		t.Errorf("500 orders at 50/s: run %s, want 10s", p.Run)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	for _, bad := range []Config{{Orders: 0, Rate: 50, MinFaults: 1, MaxFaults: 1, SettleBound: time.Minute},
		{Orders: 500, Rate: 0, MinFaults: 1, MaxFaults: 1, SettleBound: time.Minute},
		{Orders: 500, Rate: 50, MinFaults: 2, MaxFaults: 1, SettleBound: time.Minute},
		{Orders: 500, Rate: 50, MinFaults: 1, MaxFaults: 1}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
