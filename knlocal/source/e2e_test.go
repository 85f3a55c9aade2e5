package source

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"orderflow.dev/knlocal/broker/brokertest"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/sink"
)

// End-to-end: a real (embedded) Kafka, the KafkaSink ingress over real
// HTTP, and sources delivering to httptest subscribers. Nothing is mocked.

const (
	ns         = "orderflow"
	topicMain  = "e2e.orders"
	topicDLQ   = "e2e.dlq"
	partitions = 3
)

type plane struct {
	servers  []string
	cfg      *sarama.Config
	ingress  string // base URL of the sink ingress
	subs     map[string]string
	admin    sarama.ClusterAdmin
	producer sarama.SyncProducer
}

func startPlane(t testing.TB, wrap ...func(sarama.SyncProducer) sarama.SyncProducer) *plane {
	t.Helper()
	k := brokertest.Start(t,
		manifests.KafkaTopic{Name: topicMain, TopicName: topicMain, Partitions: partitions, Replicas: 1},
		manifests.KafkaTopic{Name: topicDLQ, TopicName: topicDLQ, Partitions: 1, Replicas: 1})
	producer := k.Producer(t)
	var ingressProducer sarama.SyncProducer = producer
	for _, w := range wrap {
		ingressProducer = w(ingressProducer)
	}
	h := sink.New(ingressProducer, []manifests.KafkaSink{
		{Name: "orders", Namespace: ns, Topic: topicMain, ContentMode: manifests.ContentModeBinary},
		{Name: "dlq", Namespace: ns, Topic: topicDLQ, ContentMode: manifests.ContentModeBinary},
	}, sink.WithLogger(quiet))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &plane{servers: k.Servers, cfg: k.Config, ingress: srv.URL, subs: map[string]string{}, admin: k.Admin, producer: producer}
}

// resolve maps Services to the test subscribers and KafkaSinks to the
// ingress, as the runner will.
func (p *plane) resolve(_ context.Context, d manifests.Destination) (string, error) {
	if d.Ref == nil {
		return d.URI, nil
	}
	switch d.Ref.Kind {
	case manifests.KindKafkaSink:
		return sink.URL(p.ingress, d.Ref.Namespace, d.Ref.Name), nil
	case manifests.KindService:
		if u, ok := p.subs[d.Ref.Name]; ok {
			return u, nil
		}
	}
	return "", fmt.Errorf("cannot resolve %s", d)
}

func (p *plane) subscriber(t *testing.T, name string, h http.Handler) {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	p.subs[name] = s.URL
}

func spec(group, ordering string, retry int) manifests.KafkaSource {
	return manifests.KafkaSource{
		Name: "src-" + group, Namespace: ns, Topics: []string{topicMain}, ConsumerGroup: group,
		InitialOffset: manifests.OffsetEarliest, Ordering: ordering, Consumers: 1,
		Sink: manifests.Destination{Ref: &manifests.KReference{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "sub", Namespace: ns}},
		Delivery: manifests.Delivery{
			Retry: retry, BackoffPolicy: manifests.BackoffLinear, BackoffDelay: time.Millisecond, Timeout: 10 * time.Second,
			DeadLetterSink: &manifests.Destination{Ref: &manifests.KReference{APIVersion: "eventing.knative.dev/v1alpha1", Kind: "KafkaSink", Name: "dlq", Namespace: ns}},
		},
		CEOverrides: map[string]string{},
	}
}

// run starts a source; the returned stop cancels it and waits for Run.
func (p *plane) run(t *testing.T, sp manifests.KafkaSource, opts ...Option) (*Source, func()) {
	t.Helper()
	s, err := New(sp, p.servers, p.resolve, append([]Option{WithLogger(quiet), WithSaramaConfig(p.cfg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

// publish POSTs an event to the orders KafkaSink ingress.
func (p *plane) publish(t *testing.T, id, key string, ext map[string]string) {
	t.Helper()
	e := event.New()
	e.SetID(id)
	e.SetType("dev.orderflow.order.created.v1")
	e.SetSource("/orderflow/order")
	e.SetExtension("partitionkey", key)
	for k, v := range ext {
		e.SetExtension(k, v)
	}
	_ = e.SetData("application/json", map[string]string{"orderId": key})
	req, _ := http.NewRequest(http.MethodPost, sink.URL(p.ingress, ns, "orders"), nil)
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingress answered %d", resp.StatusCode)
	}
}

// committed sums the committed offsets of group over the main topic's
// partitions (-1 = nothing committed counts as 0).
func (p *plane) committed(t *testing.T, group string) int64 {
	t.Helper()
	ids := make([]int32, partitions)
	for i := range ids {
		ids[i] = int32(i)
	}
	resp, err := p.admin.ListConsumerGroupOffsets(group, map[string][]int32{topicMain: ids})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, b := range resp.Blocks[topicMain] {
		if b.Offset > 0 {
			sum += b.Offset
		}
	}
	return sum
}

// readDLQ reads n records from the dead-letter topic.
func (p *plane) readDLQ(t *testing.T, n int) []*sarama.ConsumerMessage {
	t.Helper()
	c, err := sarama.NewConsumer(p.servers, p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topicDLQ, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	deadline := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case <-deadline:
			t.Fatalf("read %d of %d dead letters", len(out), n)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// received collects what a subscriber got.
type received struct {
	mu       sync.Mutex
	events   []event.Event
	attempts map[string]int
}

func (r *received) add(e event.Event) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attempts == nil {
		r.attempts = map[string]int{}
	}
	r.events = append(r.events, e)
	r.attempts[e.ID()]++
	return r.attempts[e.ID()]
}

func (r *received) snapshot() ([]event.Event, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for k, v := range r.attempts {
		m[k] = v
	}
	return append([]event.Event(nil), r.events...), m
}

func decode(t *testing.T, w http.ResponseWriter, r *http.Request) (event.Event, bool) {
	e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
	if err != nil {
		t.Errorf("subscriber got a non-CloudEvent: %v", err)
		http.Error(w, err.Error(), 400)
		return event.Event{}, false
	}
	return *e, true
}

// A subscriber failing twice (503) then accepting: three attempts per
// event, every event delivered, offsets committed; a plain record produced
// straight to Kafka arrives converted.
func TestE2ERetryThenSuccess(t *testing.T) {
	p := startPlane(t)
	var got received
	var headerMu sync.Mutex
	badHeaders := map[string]string{} // event id -> what Knative's dispatcher sends that this request lacked
	p.subscriber(t, "sub", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, ok := decode(t, w, r)
		if !ok {
			return
		}
		if r.Header.Get("Prefer") != "reply" || r.Header.Get("Kn-Namespace") != "orderflow" {
			headerMu.Lock()
			badHeaders[e.ID()] = fmt.Sprintf("Prefer %q Kn-Namespace %q", r.Header.Get("Prefer"), r.Header.Get("Kn-Namespace"))
			headerMu.Unlock()
		}
		if got.add(e) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	for i := range 3 {
		p.publish(t, fmt.Sprintf("evt-%d", i), fmt.Sprintf("order-%d", i), nil)
	}
	if _, _, err := p.producer.SendMessage(&sarama.ProducerMessage{
		Topic: topicMain, Partition: 0, Key: sarama.StringEncoder("plain-key"), Value: sarama.StringEncoder("raw bytes"),
		Headers: []sarama.RecordHeader{{Key: []byte("X-Origin"), Value: []byte("legacy")}},
	}); err != nil {
		t.Fatal(err)
	}
	sp := spec("g-retry", manifests.OrderingOrdered, 5)
	sp.CEOverrides = map[string]string{"plane": "local"}
	s, stop := p.run(t, sp)
	waitFor(t, "4 deliveries", func() bool { return s.Stats().Delivered == 4 })
	stop()

	events, attempts := got.snapshot()
	if len(attempts) != 4 {
		t.Fatalf("attempts = %v", attempts)
	}
	for id, n := range attempts {
		if n != 3 {
			t.Errorf("%s: %d attempts, want 3", id, n)
		}
	}
	if st := s.Stats(); st.Retried != 8 || st.DeadLettered != 0 || st.Received != 4 {
		t.Errorf("stats = %+v", st)
	}
	if len(badHeaders) > 0 {
		t.Errorf("requests without Knative's Prefer: reply and Kn-Namespace: %v", badHeaders)
	}
	var plain *event.Event
	positionOf := map[string]string{} // event id -> partition/offset it was read at
	for _, e := range events {
		// Every event, CloudEvent record or plain, says where it was read.
		pos := fmt.Sprintf("%v/%v", e.Extensions()[PartitionExtension], e.Extensions()[OffsetExtension])
		if !regexp.MustCompile(`^\d+/\d+$`).MatchString(pos) {
			t.Errorf("%s: %s/%s = %s, want two numbers", e.ID(), PartitionExtension, OffsetExtension, pos)
		}
		if prev, ok := positionOf[e.ID()]; ok && prev != pos {
			t.Errorf("%s: read at %s, then at %s", e.ID(), prev, pos)
		}
		positionOf[e.ID()] = pos
		if e.Type() == PlainEventType && e.ID() != "partition:"+strings.Replace(pos, "/", "/offset:", 1) {
			t.Errorf("plain event %s carries position %s", e.ID(), pos)
		}
	}
	if len(positionOf) != 4 || len(slices.Compact(slices.Sorted(maps.Values(positionOf)))) != 4 {
		t.Errorf("positions %v: want 4 events at 4 places", positionOf)
	}
	for i, e := range events {
		if e.Extensions()["plane"] != "local" {
			t.Errorf("ceOverrides not applied to %s", e.ID())
		}
		if e.Type() == PlainEventType {
			plain = &events[i]
		}
	}
	if plain == nil {
		t.Fatal("plain record not delivered")
	}
	if plain.Extensions()["kafkaheaderxorigin"] != "legacy" || plain.Extensions()["partitionkey"] != "plain-key" ||
		plain.Source() != "/apis/v1/namespaces/orderflow/kafkasources/src-g-retry#e2e.orders" || string(plain.Data()) != "raw bytes" {
		t.Errorf("plain event = %v", plain)
	}
	if c := p.committed(t, "g-retry"); c != 4 {
		t.Errorf("committed offsets sum to %d, want 4", c)
	}
}

// A 400 is not retried: one attempt, then the original event with the
// error extensions lands on the dead-letter topic, read back from Kafka.
func TestE2EBadRequestDeadLetter(t *testing.T) {
	p := startPlane(t)
	const body = `{"error":"unknown sku","field":"lines[0].sku"}`
	var got received
	p.subscriber(t, "sub", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e, ok := decode(t, w, r); ok {
			got.add(e)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, body)
		}
	}))
	p.publish(t, "evt-bad", "order-9", map[string]string{"correlationid": "order-9"})
	s, stop := p.run(t, spec("g-dlq", manifests.OrderingOrdered, 5))
	waitFor(t, "a dead letter", func() bool { return s.Stats().DeadLettered == 1 })
	stop()

	if _, attempts := got.snapshot(); attempts["evt-bad"] != 1 {
		t.Errorf("attempts = %v, want exactly 1", attempts)
	}
	recs := p.readDLQ(t, 1)
	if string(recs[0].Key) != "order-9" {
		t.Errorf("dead letter key = %q", recs[0].Key)
	}
	dl, pass := ToEvent(recs[0], ns, "reader")
	if !pass {
		t.Fatalf("dead letter is not a CloudEvent: %v", recs[0].Headers)
	}
	ext := dl.Extensions()
	want := map[string]any{
		ErrorDestExtension: p.subs["sub"], ErrorCodeExtension: "400",
		ErrorDataExtension: base64.StdEncoding.EncodeToString([]byte(body)),
		AttemptsExtension:  "1", "correlationid": "order-9", "partitionkey": "order-9",
	}
	for k, v := range want {
		if ext[k] != v {
			t.Errorf("dead letter %s = %v, want %v", k, ext[k], v)
		}
	}
	if dl.ID() != "evt-bad" || dl.Type() != "dev.orderflow.order.created.v1" || string(dl.Data()) != `{"orderId":"order-9"}` {
		t.Errorf("dead letter is not the original event: %v", dl)
	}
	if c := p.committed(t, "g-dlq"); c != 1 {
		t.Errorf("committed = %d, want 1", c)
	}
}

// Ordered: never two events of one partition in flight, and each key's
// events arrive in the order they were written.
func TestE2EOrdered(t *testing.T) {
	p := startPlane(t)
	partitioner := sarama.NewHashPartitioner(topicMain)
	partitionOf := func(key string) int32 {
		n, err := partitioner.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, partitions)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var (
		mu         sync.Mutex
		inFlight   = map[int32]int{}
		violations int
		seqs       = map[string][]int{}
	)
	p.subscriber(t, "sub", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, ok := decode(t, w, r)
		if !ok {
			return
		}
		key := e.Extensions()["partitionkey"].(string)
		mu.Lock()
		part := partitionOf(key) // sarama's partitioner is not goroutine-safe
		inFlight[part]++
		if inFlight[part] > 1 {
			violations++
		}
		seq, _ := strconv.Atoi(e.Extensions()["seq"].(string))
		seqs[key] = append(seqs[key], seq)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond) // widen the window a second delivery would need
		mu.Lock()
		inFlight[part]--
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	const keys, perKey = 8, 4
	for seq := range perKey {
		for k := range keys {
			p.publish(t, fmt.Sprintf("o%d-%d", k, seq), fmt.Sprintf("order-%d", k), map[string]string{"seq": strconv.Itoa(seq)})
		}
	}
	s, _ := p.run(t, spec("g-ordered", manifests.OrderingOrdered, 3))
	waitFor(t, "all deliveries", func() bool { return s.Stats().Delivered == keys*perKey })

	mu.Lock()
	defer mu.Unlock()
	if violations != 0 {
		t.Errorf("%d times two events of one partition were in flight", violations)
	}
	for key, got := range seqs {
		for i, seq := range got {
			if seq != i {
				t.Errorf("%s arrived in order %v", key, got)
				break
			}
		}
	}
}

// Unordered: events of one partition are delivered concurrently (the
// subscriber holds the first until the second arrives), and the commit
// covers both once both are done.
func TestE2EUnordered(t *testing.T) {
	p := startPlane(t)
	var arrived atomic.Int64
	both := make(chan struct{})
	var closeOnce sync.Once
	p.subscriber(t, "sub", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := decode(t, w, r); !ok {
			return
		}
		if arrived.Add(1) == 2 {
			closeOnce.Do(func() { close(both) })
		}
		select {
		case <-both:
			w.WriteHeader(http.StatusOK)
		case <-time.After(20 * time.Second):
			t.Error("the second event never arrived while the first was in flight")
			w.WriteHeader(http.StatusOK)
		}
	}))
	p.publish(t, "u-1", "same-key", nil) // same key: same partition
	p.publish(t, "u-2", "same-key", nil)
	s, stop := p.run(t, spec("g-unordered", manifests.OrderingUnordered, 0), WithMaxInFlight(4))
	waitFor(t, "two deliveries", func() bool { return s.Stats().Delivered == 2 })
	stop()
	if c := p.committed(t, "g-unordered"); c != 2 {
		t.Errorf("committed = %d, want 2", c)
	}
}

// WithDuplicateDelivery: every event reaches the subscriber twice.
func TestE2EDuplicateDelivery(t *testing.T) {
	p := startPlane(t)
	var got received
	p.subscriber(t, "sub", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e, ok := decode(t, w, r); ok {
			got.add(e)
			w.WriteHeader(http.StatusOK)
		}
	}))
	p.publish(t, "dup-1", "order-1", nil)
	p.publish(t, "dup-2", "order-2", nil)
	s, _ := p.run(t, spec("g-dup", manifests.OrderingOrdered, 0), WithDuplicateDelivery())
	waitFor(t, "four deliveries", func() bool { return s.Stats().Delivered == 4 })
	if _, attempts := got.snapshot(); attempts["dup-1"] != 2 || attempts["dup-2"] != 2 {
		t.Errorf("attempts = %v", attempts)
	}
}

// Stopping abandons an in-flight delivery without committing it; the next
// member of the group gets the event again.
func TestE2EStopAbandonsWithoutCommit(t *testing.T) {
	p := startPlane(t)
	var hung atomic.Int64
	p.subscriber(t, "hang", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		hung.Add(1)
		<-r.Context().Done() // never answers; returns when the source gives up
	}))
	var got received
	p.subscriber(t, "sub", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e, ok := decode(t, w, r); ok {
			got.add(e)
			w.WriteHeader(http.StatusOK)
		}
	}))
	p.publish(t, "stop-1", "order-1", nil)

	first := spec("g-stop", manifests.OrderingOrdered, 0)
	first.Sink.Ref.Name = "hang"
	_, stop := p.run(t, first)
	waitFor(t, "the first delivery to start", func() bool { return hung.Load() == 1 })
	stop()
	if c := p.committed(t, "g-stop"); c != 0 {
		t.Fatalf("an abandoned delivery was committed (offset %d)", c)
	}

	s, _ := p.run(t, spec("g-stop", manifests.OrderingOrdered, 0))
	waitFor(t, "redelivery", func() bool { return s.Stats().Delivered == 1 })
	if _, attempts := got.snapshot(); attempts["stop-1"] != 1 {
		t.Errorf("attempts = %v", attempts)
	}
}

// A KafkaSource's consumers edited while it runs: the group gains or
// loses members (Kafka rebalances the partitions among them) and every
// event is still delivered.
func TestE2EConsumersChangeWhileRunning(t *testing.T) {
	p := startPlane(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	p.subscriber(t, "sub", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, ok := decode(t, w, r)
		if !ok {
			return
		}
		mu.Lock()
		seen[e.ID()] = true
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	members := func() int {
		ds, err := p.admin.DescribeConsumerGroups([]string{"g-resize"})
		if err != nil || len(ds) == 0 {
			return -1
		}
		return len(ds[0].Members)
	}
	publish := func(from, n int) {
		for i := from; i < from+n; i++ {
			p.publish(t, fmt.Sprintf("r-%d", i), fmt.Sprintf("order-%d", i%10), nil)
		}
	}
	all := func(n int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for i := range n {
				if !seen[fmt.Sprintf("r-%d", i)] {
					return false
				}
			}
			return true
		}
	}
	s, _ := p.run(t, spec("g-resize", manifests.OrderingOrdered, 3))
	publish(0, 20)
	waitFor(t, "the first events", all(20))
	if s.Consumers() != 1 || members() != 1 {
		t.Fatalf("consumers %d, group members %d, want 1", s.Consumers(), members())
	}
	s.SetConsumers(3)
	waitFor(t, "three members", func() bool { return s.Consumers() == 3 && members() == 3 })
	publish(20, 20)
	waitFor(t, "the events after the scale-out", all(40))
	s.SetConsumers(1)
	waitFor(t, "one member again", func() bool { return s.Consumers() == 1 && members() == 1 })
	publish(40, 20)
	waitFor(t, "the events after the scale-in", all(60))
}
