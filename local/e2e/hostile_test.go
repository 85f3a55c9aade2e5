package e2e

import (
	"context"
	"maps"
	"os/exec"
	"strings"
	"testing"
	"time"

	"orderflow.dev/local/dlq"
	"orderflow.dev/local/fault"
	"orderflow.dev/local/kafkalog"
	"orderflow.dev/local/plane"
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
