package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/source"
	"orderflow.dev/local/dlq"
	"orderflow.dev/shared/events"
)

// kcatRecord is one record as `kcat -C -J` prints it.
type kcatRecord struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Headers   []string `json:"headers"` // name, value, name, value...
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
}

func (r kcatRecord) header(name string) (string, bool) {
	for i := 0; i+1 < len(r.Headers); i += 2 {
		if r.Headers[i] == name {
			return r.Headers[i+1], true
		}
	}
	return "", false
}

func (r kcatRecord) key() string {
	if r.Key == nil {
		return ""
	}
	return *r.Key
}

// kcat runs Debian's kcat (librdkafka) against the suite's broker.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", append([]string{"-b", strings.Join(brokers(), ",")}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// kcatRead reads a whole topic with kcat, from the beginning to its end.
func kcatRead(t *testing.T, topic string) []kcatRecord {
	t.Helper()
	out := kcat(t, "", "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-J")
	var recs []kcatRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r kcatRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("kcat -J line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

var traceparent = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)

// Interop with a client nobody here wrote. kcat produces into the commands
// topic (a) a plain JSON record and (b) a binary-mode CloudEvent (ce_
// headers), and reads back what the functions published.
//   - (a) reaches the order function as Knative's KafkaSource delivers a
//     plain record: type dev.knative.kafka.event, id partition:<p>/offset:<o>,
//     the key and headers as extensions. order refuses it naming `type`, and
//     it is dead-lettered once with that reason.
//   - (b) passes through as the CloudEvent it is; the order is accepted and
//     reaches a terminal state.
//   - Every event our functions wrote for that order, read by kcat, is keyed
//     by the order id and carries its attributes and extensions as ce_
//     headers, as Knative's KafkaSink writes binary mode.
func TestKcatInterop(t *testing.T) {
	if brokers() == nil {
		t.Skip(EnvBrokers + " not set: kcat interop runs against a real Kafka (make test-real)")
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed (apt-get install kcat)")
	}
	p := up(t, nil)
	commandsTopic, ordersTopic := events.TopicCommands, events.TopicOrders
	dlqTopic := p.Endpoints().DLQTopics["order"]
	ns := p.Set.Namespace
	if ns == "" {
		ns = manifests.DefaultNamespace
	}

	// (a) a plain JSON record, with a key and one header.
	kcat(t, `{"orderId":"kcat-plain","note":"plain JSON, not a CloudEvent"}`+"\n",
		"-P", "-t", commandsTopic, "-k", "kcat-plain", "-H", "origin=kcat")

	// (b) a binary-mode CloudEvent: attributes as ce_ headers, data as value.
	const orderID, commandID = "kcat-ce-1", "kcat-cmd-1"
	data, _ := json.Marshal(events.PlaceOrderData{OrderID: orderID, CustomerID: "cus-kcat", Email: "kcat@example.org",
		Currency: "EUR", PaymentToken: "tok_visa", Lines: []events.Line{{SKU: "sku-tee", Quantity: 1}}})
	kcat(t, string(data)+"\n", "-P", "-t", commandsTopic, "-k", orderID,
		"-H", "ce_specversion=1.0", "-H", "ce_type="+events.PlaceOrder, "-H", "ce_id="+commandID,
		"-H", "ce_source=/kcat", "-H", "ce_partitionkey="+orderID, "-H", "content-type=application/json")

	// kcat's own view of the plain record: where it landed.
	var plain *kcatRecord
	for _, r := range kcatRead(t, commandsTopic) {
		if r.key() == "kcat-plain" {
			plain = &r
		}
	}
	if plain == nil {
		t.Fatal("kcat does not read back the plain record it wrote")
	}

	// (a): dead-lettered by order, once, as the KafkaSource converted it.
	kc := kafkaClient(t, p)
	var letter dlq.Letter
	deadline := time.Now().Add(60 * time.Second)
	for {
		recs, err := kafkalog.ReadAll(context.Background(), kc, dlqTopic)
		if err != nil {
			t.Fatal(err)
		}
		var found []dlq.Letter
		for _, r := range recs {
			if l, ok := dlq.FromRecord(r); ok && l.OrderID == "kcat-plain" {
				found = append(found, l)
			}
		}
		if len(found) > 1 {
			t.Fatalf("plain record dead-lettered %d times", len(found))
		}
		if len(found) == 1 {
			letter = found[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plain record is not in %s after 60s", dlqTopic)
		}
		time.Sleep(200 * time.Millisecond)
	}
	e := letter.Event
	wantID := fmt.Sprintf("partition:%d/offset:%d", plain.Partition, plain.Offset)
	wantSource := fmt.Sprintf("/apis/v1/namespaces/%s/kafkasources/order#%s", ns, commandsTopic)
	if e.Type() != source.PlainEventType || e.ID() != wantID || e.Source() != wantSource {
		t.Errorf("dead-lettered plain record: type %q id %q source %q, want %q %q %q",
			e.Type(), e.ID(), e.Source(), source.PlainEventType, wantID, wantSource)
	}
	ext := e.Extensions()
	for name, want := range map[string]string{"key": "kcat-plain", "partitionkey": "kcat-plain", "kafkaheaderorigin": "kcat"} {
		if got := fmt.Sprint(ext[name]); got != want {
			t.Errorf("extension %s = %q, want %q", name, got, want)
		}
	}
	if letter.Code != "400" || letter.Field != "type" || !strings.Contains(letter.Reason, source.PlainEventType) {
		t.Errorf("dead letter: code %s field %q reason %q, want 400 naming type and %s", letter.Code, letter.Field, letter.Reason, source.PlainEventType)
	}
	if a := fmt.Sprint(ext["orderflowattempts"]); a != "1" {
		t.Errorf("%s attempts before dead-lettering, want 1 (a 4xx is not retried)", a)
	}
	if string(e.Data()) != `{"orderId":"kcat-plain","note":"plain JSON, not a CloudEvent"}` {
		t.Errorf("dead-lettered data %q, want the record's value unchanged", e.Data())
	}

	// (b) and the read-back: kcat sees the order's events, keyed and with
	// their ce_ headers.
	var created, terminal *kcatRecord
	deadline = time.Now().Add(60 * time.Second)
	for terminal == nil {
		if time.Now().After(deadline) {
			t.Fatalf("order %s: no terminal event read by kcat after 60s (created: %v)", orderID, created != nil)
		}
		time.Sleep(300 * time.Millisecond)
		for _, r := range kcatRead(t, ordersTopic) {
			typ, _ := r.header("ce_type")
			corr, _ := r.header("ce_correlationid")
			if corr != orderID {
				continue
			}
			switch typ {
			case events.OrderCreated:
				created = &r
			case events.OrderConfirmed, events.OrderCancelled:
				terminal = &r
			}
		}
	}
	if created == nil {
		t.Fatalf("order %s reached %s without order.created on %s", orderID, must(terminal.header("ce_type")), ordersTopic)
	}
	if typ, _ := terminal.header("ce_type"); typ != events.OrderConfirmed {
		t.Errorf("order %s: %s, want confirmed (one tee in stock, a good card)", orderID, typ)
	}
	for _, r := range []*kcatRecord{created, terminal} {
		typ, _ := r.header("ce_type")
		if r.key() != orderID {
			t.Errorf("%s: key %q, want the order id %q", typ, r.key(), orderID)
		}
		want := map[string]*regexp.Regexp{
			"ce_specversion":   regexp.MustCompile(`^1\.0$`),
			"ce_id":            regexp.MustCompile(`.`),
			"ce_source":        regexp.MustCompile(`^/orderflow/order$`),
			"ce_time":          regexp.MustCompile(`^\d{4}-\d\d-\d\dT`),
			"ce_dataschema":    regexp.MustCompile(`.`),
			"ce_correlationid": regexp.MustCompile(`^` + regexp.QuoteMeta(orderID) + `$`),
			"ce_partitionkey":  regexp.MustCompile(`^` + regexp.QuoteMeta(orderID) + `$`),
			"ce_causationid":   regexp.MustCompile(`.`),
			"ce_traceparent":   traceparent,
			"content-type":     regexp.MustCompile(`^application/json`),
		}
		for h, re := range want {
			v, ok := r.header(h)
			if !ok || !re.MatchString(v) {
				t.Errorf("%s record: header %s = %q (present %v), want %s", typ, h, v, ok, re)
			}
		}
		var payload struct {
			OrderID string `json:"orderId"`
		}
		if r.Payload == nil || json.Unmarshal([]byte(*r.Payload), &payload) != nil || payload.OrderID != orderID {
			t.Errorf("%s record: payload %v, want JSON data of order %s", typ, r.Payload, orderID)
		}
	}
	if c, _ := created.header("ce_causationid"); c != commandID {
		t.Errorf("order.created causationid %q, want the id of kcat's command %q", c, commandID)
	}
	t.Logf("kcat read back %s: key %s, headers %v", must(terminal.header("ce_type")), terminal.key(), terminal.Headers)
}

func must(v string, _ bool) string { return v }
