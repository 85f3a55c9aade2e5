package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/client"
	"orderflow.dev/local/dlq"
	"orderflow.dev/shared/events"
)

// waitLetters waits until the function's dead-letter topic holds n letters.
func waitLetters(t *testing.T, p *plane.Plane, fn string, n int, within time.Duration) []dlq.Letter {
	t.Helper()
	kc := kafkaClient(t, p)
	deadline := time.Now().Add(within)
	for {
		recs, err := kafkalog.ReadAll(context.Background(), kc, p.Endpoints().DLQTopics[fn])
		if err != nil {
			t.Fatal(err)
		}
		var out []dlq.Letter
		for _, r := range recs {
			if l, ok := dlq.FromRecord(r); ok {
				out = append(out, l)
			}
		}
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d dead letters after %s, want %d", fn, len(out), within, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sendUnknownSKU places an order for a SKU the catalog does not have,
// straight to the ingress (past the checks `place` does): a poison
// command the order function refuses, so it is dead-lettered.
func sendUnknownSKU(t *testing.T, p *plane.Plane, orderID string) event.Event {
	t.Helper()
	c, err := client.New(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.New(events.PlaceOrder, events.PlaceOrderData{OrderID: orderID, CustomerID: "c", Email: "c@x.org",
		Currency: "EUR", PaymentToken: "tok_visa", Lines: []events.Line{{SKU: "sku-unicorn", Quantity: 1}}}, nil, "/e2e")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), p.SinkURL("commands"), e); err != nil {
		t.Fatal(err)
	}
	return e
}

func cliFails(t *testing.T, p *plane.Plane, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--state-dir", p.Endpoints().StateDir}, args...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("orderflow %v succeeded, want failure:\n%s", args, out)
	}
	return string(out)
}

// A notification outage: notify's webhook fails, its deliveries are retried
// and then dead-lettered; after the fix they are replayed and purged.
func TestDeadLettersAreShownReplayedAfterAFixAndPurged(t *testing.T) {
	p := up(t, nil)
	webhooks[p].FailWith(503)
	c, err := client.New(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Place(context.Background(), p.SinkURL("commands"), events.PlaceOrderData{OrderID: "o-dlq", CustomerID: "c", Email: "c@x.org",
		Currency: "EUR", PaymentToken: "tok_visa", Lines: []events.Line{{SKU: "sku-mug", Quantity: 1}}}); err != nil {
		t.Fatal(err)
	}
	// knative/base: retry 5, exponential from PT0.2S: about 12s of retries.
	letters := waitLetters(t, p, "notify", 1, 60*time.Second)
	if l := letters[0]; l.OrderID != "o-dlq" || l.Code != "503" || l.Attempts() != 6 {
		t.Fatalf("letter %+v (attempts %d), want o-dlq, 503 after 6 attempts", l, l.Attempts())
	}
	id := dlq.ID("notify", letters[0])

	out := cli(t, p, "dlq", "list", "notify")
	if !strings.Contains(out, id) || !strings.Contains(out, "o-dlq") || !strings.Contains(out, "503") {
		t.Fatalf("dlq list:\n%s", out)
	}
	out = cli(t, p, "dlq", "show", id)
	for _, want := range []string{"failed at:", "503 after 6 attempt(s)", "order.confirmed.v1", `"orderId": "o-dlq"`, "correlationid o-dlq"} {
		if !strings.Contains(out, want) {
			t.Fatalf("dlq show:\n%s\nmissing %q", out, want)
		}
	}

	// Not fixed yet: the replay is refused by the function and reported.
	out = cliFails(t, p, "dlq", "replay", id)
	if !strings.Contains(out, "NOT replayed") {
		t.Fatalf("replay before the fix:\n%s", out)
	}
	webhooks[p].FailWith(0)
	out = cli(t, p, "dlq", "replay", "--all", "--function", "notify")
	if !strings.Contains(out, "replayed 1, failed 0") {
		t.Fatalf("replay after the fix:\n%s", out)
	}
	if got := webhooks[p].Stats().Distinct; got != 1 {
		t.Fatalf("webhook got %d notifications, want 1", got)
	}
	if out := cliFails(t, p, "dlq", "purge", "notify"); !strings.Contains(out, "add --yes") {
		t.Fatalf("purge without --yes:\n%s", out)
	}
	if out := cli(t, p, "dlq", "purge", "notify", "--yes"); !strings.Contains(out, "purged 1") {
		t.Fatalf("purge:\n%s", out)
	}
	if out := cli(t, p, "dlq", "list", "notify"); !strings.Contains(out, "no dead letters") {
		t.Fatalf("after purge:\n%s", out)
	}
	if out := cliFails(t, p, "dlq", "show", id); !strings.Contains(out, "no dead letter") {
		t.Fatalf("show after purge:\n%s", out)
	}
}

// Replaying an event whose cause is not fixed, back through its topic, gets
// it dead-lettered again with its replay count; after --max-replays the
// replay is refused instead of looping.
func TestReplayLoopsAreRefused(t *testing.T) {
	p := up(t, nil)
	e := sendUnknownSKU(t, p, "o-loop")
	idRE := regexp.MustCompile(`order:\d+:\d+`)
	for round := 1; round <= 2; round++ {
		letters := waitLetters(t, p, "order", round, 30*time.Second)
		newest := letters[len(letters)-1]
		if newest.Replays() != round-1 {
			t.Fatalf("round %d: newest letter replayed %d times", round, newest.Replays())
		}
		out := cli(t, p, "dlq", "replay", "--to", "topic", "--max-replays", "2", dlq.ID("order", newest))
		if !idRE.MatchString(out) || !strings.Contains(out, "replayed 1") {
			t.Fatalf("round %d replay:\n%s", round, out)
		}
	}
	letters := waitLetters(t, p, "order", 3, 30*time.Second)
	newest := letters[len(letters)-1]
	if newest.Replays() != 2 || newest.Event.ID() != e.ID() {
		t.Fatalf("third letter: replays %d id %s", newest.Replays(), newest.Event.ID())
	}
	out := cliFails(t, p, "dlq", "replay", "--to", "topic", "--max-replays", "2", dlq.ID("order", newest))
	if !strings.Contains(out, "replay limit reached") {
		t.Fatalf("fourth replay:\n%s", out)
	}
}
