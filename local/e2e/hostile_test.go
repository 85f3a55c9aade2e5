package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os/exec"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/dlq"
	"orderflow.dev/local/fault"
)

// TestHostileRecordsNeverWedgeAPartition: kcat (librdkafka, a client
// nobody here wrote) writes every malformed shape of record we could think
// of into every domain topic of a running topology (fault.HostileRecords:
// structured CloudEvents the functions refuse, structured and batch
// content types with bodies that are no event, attributes with control
// characters, broken binary headers, invalid media types, keys and values
// that are not UTF-8, tombstones, clashing header names, a record of
// nearly a megabyte). Then 300 orders. Every order reaches its terminal
// state with the invariants intact, and every hostile record is in the
// dead-letter topic of every function that reads its topic, with a
// reason; nothing is held and nothing waits in the spool.
func TestHostileRecordsNeverWedgeAPartition(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed (apt-get install kcat): the hostile records come from a client nobody here wrote")
	}
	p := up(t, nil)
	hostile := fault.HostileRecords("e2e")
	for _, h := range hostile {
		if err := fault.KcatProduce(context.Background(), p.Brokers, h); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("kcat wrote %d hostile records into %d topics", len(hostile), len(fault.DomainTopics()))

	const orders = 300
	res := runDemo(t, p, orders, 13)
	expectSplit(t, res, orders)

	want := fault.ExpectedHostileLetters(p, hostile)
	var found map[string]int
	var letters []dlq.Letter
	deadline := time.Now().Add(90 * time.Second)
	for {
		found, letters = hostileLetters(t, p, hostile)
		if maps.Equal(found, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hostile dead letters by record (function count):\n got  %v\n want %v", found, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, l := range letters {
		if l.Reason == "" || l.Dest == "" {
			t.Errorf("dead letter %s:%d:%d without a reason or destination: %+v", l.Topic, l.Partition, l.Offset, l)
		}
	}
	for name, s := range p.SourceStats() {
		if len(s.Holds) != 0 || s.Unsent != 0 || s.Spooled != 0 {
			t.Errorf("source %s: holds %v, unsent %d, spooled %d; want none", name, s.Holds, s.Unsent, s.Spooled)
		}
	}
	out := cli(t, p, "dlq", "order")
	for _, want := range []string{"not sent to", "cannot send the event as an HTTP request", "unknown event type"} {
		if !strings.Contains(out, want) {
			t.Errorf("orderflow dlq order:\n%s\nmissing %q", out, want)
		}
	}
	if strings.ContainsAny(out, "\t\x1b") {
		t.Errorf("orderflow dlq order prints raw control characters (a tab shifts the columns):\n%q", out)
	}
	checkDeadLettersPrintAsJSON(t, p, len(letters))
}

// checkDeadLettersPrintAsJSON: every dead letter prints in every JSON
// form, whatever its data (hostile records are plain text, binary,
// truncated JSON): `dlq --json`, `dlq --json FUNCTION` and `dlq show
// --json ID` of each of the order function's letters.
func checkDeadLettersPrintAsJSON(t *testing.T, p *plane.Plane, atLeast int) {
	t.Helper()
	// Read as plain JSON: the CloudEvents SDK's own decoder misreads an
	// indented data_base64 (it strips one byte either side of the value,
	// taking the space for a quote), and any reader of this output (jq,
	// a script) reads it as JSON.
	type letterJSON struct {
		ID    string         `json:"id"`
		Event map[string]any `json:"Event"`
	}
	var all []letterJSON
	if err := json.Unmarshal([]byte(cli(t, p, "dlq", "--json")), &all); err != nil {
		t.Fatalf("dlq --json: %v", err)
	}
	if len(all) < atLeast {
		t.Fatalf("dlq --json lists %d dead letters, want at least %d", len(all), atLeast)
	}
	var order []letterJSON
	if err := json.Unmarshal([]byte(cli(t, p, "dlq", "--json", "order")), &order); err != nil {
		t.Fatalf("dlq --json order: %v", err)
	}
	if len(order) == 0 {
		t.Fatal("dlq --json order lists nothing")
	}
	binary := 0
	for _, r := range order {
		var one letterJSON
		if err := json.Unmarshal([]byte(cli(t, p, "dlq", "show", "--json", r.ID)), &one); err != nil {
			t.Fatalf("dlq show --json %s: %v", r.ID, err)
		}
		if one.ID != r.ID || one.Event["id"] == nil {
			t.Errorf("dlq show --json %s: id %q, event %v", r.ID, one.ID, one.Event)
		}
		if b64, ok := one.Event["data_base64"].(string); ok {
			if _, err := base64.StdEncoding.DecodeString(b64); err != nil {
				t.Errorf("dlq show --json %s: data_base64 %q: %v", r.ID, b64, err)
			}
			binary++
		}
	}
	if binary == 0 {
		t.Error("no dead letter of the order function printed its data as data_base64; the hostile records include binary ones")
	}
}

// hostileLetters counts, per hostile record, the dead letters that carry
// it (by the record's key, its CloudEvent id or, for the record form, the
// exact original key), keyed "<record> <function>".
func hostileLetters(t *testing.T, p *plane.Plane, hostile []fault.Hostile) (map[string]int, []dlq.Letter) {
	t.Helper()
	ep := p.Endpoints()
	topics := map[string]string{}
	var names []string
	for fn, topic := range ep.DLQTopics {
		topics[topic] = fn
		names = append(names, topic)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := kafkalog.ReadAll(ctx, p.Kafka(), names...)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	var letters []dlq.Letter
	for _, r := range recs {
		l, ok := dlq.FromRecord(r)
		if !ok {
			t.Fatalf("a record in %s that is not a dead letter: %+v", r.Topic, r.Raw)
		}
		for _, h := range hostile {
			if h.Matches(l) {
				found[h.Name+" "+topics[r.Topic]]++
				letters = append(letters, l)
			}
		}
	}
	return found, letters
}
