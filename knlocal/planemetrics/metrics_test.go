package planemetrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"orderflow.dev/knlocal"
	"orderflow.dev/knlocal/broker/brokertest"
	"orderflow.dev/knlocal/lag"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/planemetrics"
	"orderflow.dev/knlocal/source"
)

func TestObserverCountsDispatchesAndDeadLetters(t *testing.T) {
	m := planemetrics.New(map[string]string{"ns/order-src": "order"}, knlocal.Naming{})
	o := m.Observer()
	rec := source.Record{Source: "ns/order-src", Topic: "t", EventType: "x.v1"}
	o.Attempted(source.Attempt{Record: rec, Status: 503, Retry: true, Took: 2 * time.Millisecond})
	o.Attempted(source.Attempt{Record: rec, Status: 503, Took: 2 * time.Millisecond})
	o.Attempted(source.Attempt{Record: rec, Status: 202, DeadLetter: true, Took: time.Millisecond})
	o.DeadLettered(source.Outcome{Record: rec, Status: 503})
	o.DeadLettered(source.Outcome{Record: rec, Status: 400})
	o.DeadLettered(source.Outcome{Record: rec, Status: 0})
	o.Spooled(source.Outcome{Record: rec, Status: 400})

	want := `
# HELP orderflow_dead_letters_total Events a dead-letter sink took, by subscriber and reason: refused (a 4xx Knative does not retry), retries_exhausted (5xx, 404, 408, 409, 429 every time), no_response.
# TYPE orderflow_dead_letters_total counter
orderflow_dead_letters_total{function="order",kn_source_name="order-src",kn_source_namespace="ns",reason="no_response"} 1
orderflow_dead_letters_total{function="order",kn_source_name="order-src",kn_source_namespace="ns",reason="refused"} 1
orderflow_dead_letters_total{function="order",kn_source_name="order-src",kn_source_namespace="ns",reason="retries_exhausted"} 1
# HELP orderflow_dispatch_retries_total Failed attempts that a KafkaSource retried after its backoff.
# TYPE orderflow_dispatch_retries_total counter
orderflow_dispatch_retries_total{kn_source_name="order-src",kn_source_namespace="ns"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "orderflow_dead_letters_total", "orderflow_dispatch_retries_total"); err != nil {
		t.Error(err)
	}
	sent := `
# HELP http_events_sent_total HTTP requests a KafkaSource made: to its subscriber, or (dead_letter="true") to its dead-letter sink; status 0 is no response.
# TYPE http_events_sent_total counter
http_events_sent_total{cloudevents_type="x.v1",dead_letter="false",http_response_status_code="503",kn_source_name="order-src",kn_source_namespace="ns"} 2
http_events_sent_total{cloudevents_type="x.v1",dead_letter="true",http_response_status_code="202",kn_source_name="order-src",kn_source_namespace="ns"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(sent), "http_events_sent_total"); err != nil {
		t.Error(err)
	}
}

// Records carry whatever type their producer wrote: past the bound, new
// types are counted under "other" rather than each adding series.
func TestEventTypeLabelIsBounded(t *testing.T) {
	m := planemetrics.New(nil, knlocal.Naming{})
	o := m.Observer()
	for i := 0; i < 500; i++ {
		o.Attempted(source.Attempt{Record: source.Record{Source: "ns/s", EventType: fmt.Sprintf("made.up.%d", i)}, Status: 400})
	}
	if n := testutil.CollectAndCount(m.Registry(), "http_events_sent_total"); n != 101 {
		t.Errorf("%d series for 500 made-up types, want 100 and one \"other\"", n)
	}
}

func TestIngressCountsBySinkAndStatus(t *testing.T) {
	m := planemetrics.New(nil, knlocal.Naming{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ns/orders" {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		http.NotFound(w, r)
	})
	h := m.Ingress(inner, map[string]string{"/ns/orders": "orders"})
	for _, p := range []string{"/ns/orders", "/ns/orders", "/x/1", "/x/2", "/x/3"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, p, nil))
	}
	want := `
# HELP orderflow_sink_requests_total Requests to the KafkaSink ingress by sink and answer: 202 written to Kafka, 4xx refused, 503 Kafka did not acknowledge.
# TYPE orderflow_sink_requests_total counter
orderflow_sink_requests_total{http_response_status_code="202",kn_sink_name="orders"} 2
orderflow_sink_requests_total{http_response_status_code="404",kn_sink_name="-"} 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "orderflow_sink_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestLagCollectorReadsKafka(t *testing.T) {
	k := brokertest.Start(t, manifests.KafkaTopic{Name: "t", TopicName: "m.t", Partitions: 1, Replicas: 1})
	prod := k.Producer(t)
	for i := 0; i < 4; i++ {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "m.t", Value: sarama.StringEncoder("v")}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := sarama.NewClient(k.Servers, k.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// Under another topology's naming: the plane's own metric is its.
	shop := knlocal.Naming{MetricPrefix: "shop"}
	m := planemetrics.New(nil, shop)
	m.Register(planemetrics.LagCollector(client, []lag.Group{{Name: "g", Topics: []string{"m.t"}}}, 5*time.Second, shop))
	want := `
# HELP kafka_consumergroup_lag Records a consumer group has still to read on a partition: end offset minus committed offset (everything still in the partition when nothing is committed).
# TYPE kafka_consumergroup_lag gauge
kafka_consumergroup_lag{consumergroup="g",partition="0",topic="m.t"} 4
# HELP shop_lag_read_success 1 when the last scrape read every group's offsets from Kafka, 0 when it failed (the lag series are then missing).
# TYPE shop_lag_read_success gauge
shop_lag_read_success 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "kafka_consumergroup_lag", "shop_lag_read_success"); err != nil {
		t.Error(err)
	}
}

// The ingress's handler reaches the connection through the metrics'
// recorder (http.ResponseController): the KafkaSink sets a read deadline
// on it, which a recorder without Unwrap silently dropped.
func TestIngressLetsTheHandlerReachTheConnection(t *testing.T) {
	m := planemetrics.New(nil, knlocal.Naming{})
	var deadlineErr error
	srv := httptest.NewServer(m.Ingress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadlineErr = http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Second))
	}), nil))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/x", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if deadlineErr != nil {
		t.Fatalf("SetReadDeadline through the recorder: %v", deadlineErr)
	}
}
