package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.dev/local/client"
	"orderflow.dev/local/dlq"
	"orderflow.dev/shared/events"
)

// anywhere runs the CLI as an operator of a cluster would: from a
// directory that is no checkout, with a state directory holding no
// endpoints file, given only the brokers.
func anywhere(t *testing.T, brokers string, wantOK bool, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(binary, append([]string{"--state-dir", filepath.Join(dir, "no-plane-here")}, append(args, "--brokers", brokers)...)...)
	cmd.Dir, cmd.Env = dir, os.Environ()
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("orderflow %v --brokers %s: %v (want success %v)\n%s", args, brokers, err, wantOK, out)
	}
	return string(out)
}

// place, order, stats and dlq with --brokers alone: each result is checked
// against what the run did, and against the functions' own read models.
func TestOperatorCommandsWorkWithBrokersAlone(t *testing.T) {
	p := up(t, nil)
	brokers := strings.Join(p.Brokers, ",")

	// place writes to the commands topic itself and follows the order there.
	if out := anywhere(t, brokers, true, "place", "--sku", "sku-tee:2", "--id", "o-anywhere"); !strings.Contains(out, "order o-anywhere: CONFIRMED") {
		t.Fatalf("place --brokers:\n%s", out)
	}
	if out := anywhere(t, brokers, true, "place", "--sku", "sku-mug:1", "--id", "o-declined", "--token", "tok_declined"); !strings.Contains(out, "order o-declined: CANCELLED (payment_declined)") {
		t.Fatalf("place --brokers of a declined card:\n%s", out)
	}
	poison := sendUnknownSKU(t, p, "o-poison")
	waitLetters(t, p, "order", 1, 60*time.Second)

	// order: the same state as the order function's read model.
	var fromTopics events.OrderViewData
	if err := json.Unmarshal([]byte(anywhere(t, brokers, true, "order", "o-anywhere", "--json")), &fromTopics); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var fromFunction events.OrderViewData
	if err := c.Query(context.Background(), p.FunctionURL("order"), events.OrderQuery, events.OrderQueryData{OrderID: "o-anywhere"}, &fromFunction); err != nil {
		t.Fatal(err)
	}
	if fromTopics.Status != "confirmed" || fromTopics.Status != fromFunction.Status || fromTopics.TotalCents != fromFunction.TotalCents ||
		fromTopics.Version != fromFunction.Version || fromTopics.CustomerID != "cus-cli" || len(fromTopics.Lines) != 1 {
		t.Fatalf("order --brokers %+v\nthe order function's view %+v", fromTopics, fromFunction)
	}
	for _, typ := range []string{events.PlaceOrder, events.OrderCreated, events.InventoryReserved, events.PaymentCompleted, events.OrderConfirmed} {
		if !hasTimelineEntry(fromTopics, typ) {
			t.Fatalf("order --brokers: no %s in the timeline %+v", typ, fromTopics.Timeline)
		}
	}
	if out := anywhere(t, brokers, true, "order", "o-poison"); !strings.Contains(out, "dead-lettered by order") || !strings.Contains(out, "sku-unicorn") {
		t.Fatalf("order --brokers of a refused placement:\n%s", out)
	}
	if out := anywhere(t, brokers, false, "order", "o-never-placed"); !strings.Contains(out, "not known") {
		t.Fatalf("order --brokers of an unknown order:\n%s", out)
	}

	// stats: the analytics function's numbers, once it has read every fact.
	var want, got events.AnalyticsViewData
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := c.Query(context.Background(), p.FunctionURL("analytics"), events.AnalyticsQuery, events.AnalyticsQueryData{}, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(anywhere(t, brokers, true, "stats")), &got); err != nil {
			t.Fatal(err)
		}
		if want.EventsSeen == got.EventsSeen && want.NotificationsSent == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the analytics function saw %d events (%d notifications), the topics hold %d", want.EventsSeen, want.NotificationsSent, got.EventsSeen)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got.OrdersByState["confirmed"] != 1 || got.OrdersByState["cancelled"] != 1 || got.CancelledByReason["payment_declined"] != 1 ||
		got.RevenueCents != fromFunction.TotalCents || got.NotificationsSent != 2 {
		t.Fatalf("stats --brokers %+v: want the run's one confirmed order (revenue %d), one declined, two notifications", got, fromFunction.TotalCents)
	}
	for _, m := range []struct {
		name      string
		got, want map[string]int
	}{{"orders by state", got.OrdersByState, want.OrdersByState}, {"cancelled by reason", got.CancelledByReason, want.CancelledByReason}} {
		if !sameCounts(m.got, m.want) {
			t.Fatalf("stats --brokers %s %v, the analytics function %v", m.name, m.got, m.want)
		}
	}
	if got.RevenueCents != want.RevenueCents || got.RefundedCents != want.RefundedCents || got.SagaDurationMillis.Count != want.SagaDurationMillis.Count {
		t.Fatalf("stats --brokers %+v\nthe analytics function %+v", got, want)
	}

	// dlq: list, show, replay (to the topic), purge.
	letters := waitLetters(t, p, "order", 1, time.Second)
	id := dlq.ID("order", letters[0])
	if out := anywhere(t, brokers, true, "dlq", "list"); !strings.Contains(out, id) || !strings.Contains(out, "o-poison") || strings.Contains(out, "HELD NOW") {
		t.Fatalf("dlq list --brokers:\n%s", out)
	}
	if out := anywhere(t, brokers, true, "dlq", "show", id); !strings.Contains(out, poison.ID()) || !strings.Contains(out, "sku-unicorn") {
		t.Fatalf("dlq show --brokers:\n%s", out)
	}
	if out := anywhere(t, brokers, true, "dlq", "replay", id); !strings.Contains(out, "replayed to topic") || !strings.Contains(out, "replayed 1, failed 0") {
		t.Fatalf("dlq replay --brokers:\n%s", out)
	}
	// Back on the commands topic, the order function refuses it again:
	// a second letter, which knows it was replayed once.
	again := waitLetters(t, p, "order", 2, 60*time.Second)
	if again[1].Event.ID() != poison.ID() || again[1].Replays() != 1 {
		t.Fatalf("after the replay: letter %s replayed %d times, want %s replayed once", again[1].Event.ID(), again[1].Replays(), poison.ID())
	}
	if out := anywhere(t, brokers, false, "dlq", "purge", "order"); !strings.Contains(out, "deletes 2 dead letter(s) of order") {
		t.Fatalf("dlq purge --brokers without --yes:\n%s", out)
	}
	if out := anywhere(t, brokers, true, "dlq", "purge", "order", "--yes"); !strings.Contains(out, "purged 2 dead letter(s) of order") {
		t.Fatalf("dlq purge --brokers --yes:\n%s", out)
	}
	if out := anywhere(t, brokers, true, "dlq", "list", "order"); !strings.Contains(out, "no dead letters") {
		t.Fatalf("dlq list --brokers after the purge:\n%s", out)
	}
}

func hasTimelineEntry(v events.OrderViewData, typ string) bool {
	for _, e := range v.Timeline {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// sameCounts compares two counts, a missing key counting as zero.
func sameCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
