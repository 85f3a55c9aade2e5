package knconform

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/knplane"
	"orderflow.dev/knlocal/plane"
)

var update = flag.Bool("update", false, "rewrite testdata/differences.txt from this run")

const root = ".." // the module, holding knplane.Script

// A record the test writes, and what the subscriber answers to it: the
// body carries "status=NNN" (or "status":NNN), read by the subscriber
// whatever shape the event arrives in.
type input struct {
	name    string
	topic   string // topicIn unless set
	headers map[string]string
	value   string
}

const (
	topicIn      = "conform.in"
	topicRefused = "conform.refused"
	topicDLQ     = "conform.dlq"
	// Read by a source whose backoffDelay (PT0.05S) a cluster reads as 0.
	topicZeroBackoff = "conform.zero-backoff"
)

func ce(id, ct string) map[string]string {
	h := map[string]string{"ce_specversion": "1.0", "ce_id": id, "ce_source": "/conform", "ce_type": "dev.conform.test"}
	if ct != "" {
		h["content-type"] = ct
	}
	return h
}

func inputs() []input {
	in := []input{
		{name: "plain-json", value: `{"case":"plain-json","status":200}`},
		{name: "plain-text", headers: map[string]string{"content-type": "text/plain", "x-trace": "abc"}, value: "case=plain-text status=200"},
		{name: "binary-ce", headers: ce("binary-ce", "application/json"), value: `{"case":"binary-ce","status":200}`},
		{name: "binary-ce-ext", headers: merge(ce("binary-ce-ext", "application/json"), map[string]string{"ce_partitionkey": "k1", "ce_correlationid": "c-1"}), value: `{"status":200}`},
		{name: "structured-ce", headers: map[string]string{"content-type": "application/cloudevents+json"},
			value: `{"specversion":"1.0","id":"structured-ce","source":"/conform","type":"dev.conform.test","datacontenttype":"application/json","data":{"status":200}}`},
		{name: "ce-no-id", headers: map[string]string{"ce_specversion": "1.0", "ce_source": "/conform", "ce_type": "t", "content-type": "application/json"}, value: `{"status":200}`},
		{name: "ce-specversion-2", headers: merge(ce("ce-specversion-2", "application/json"), map[string]string{"ce_specversion": "2.0"}), value: `{"status":200}`},
		{name: "structured-truncated", headers: map[string]string{"content-type": "application/cloudevents+json"}, value: `{"specversion":"1.0","id":"x","status=200`},
		{name: "ce-empty-source", headers: merge(ce("ce-empty-source", "application/json"), map[string]string{"ce_source": ""}), value: `{"status":200}`},
		{name: "refused-dead-letter-sink", topic: topicRefused, headers: ce("refused-dead-letter-sink", "application/json"), value: `{"status":400}`},
		{name: "zero-backoff-500", topic: topicZeroBackoff, headers: ce("zero-backoff-500", "application/json"), value: `{"status":500}`},
	}
	for _, status := range []int{202, 204, 307, 400, 404, 409, 422, 429, 500, 503} {
		name := fmt.Sprintf("answer-%d", status)
		in = append(in, input{name: name, headers: ce(name, "application/json"), value: fmt.Sprintf(`{"status":%d}`, status)})
	}
	return in
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// manifests is the topology: one source reading conform.in with retries
// and a KafkaSink dead-letter sink, one reading conform.refused whose
// dead-letter sink refuses everything.
func manifests(subscriber, refusingDLS string) map[string]string {
	return map[string]string{
		"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: conform\nresources:\n  - topology.yaml\n",
		"topology.yaml": fmt.Sprintf(`apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata:
  name: conform-in
spec:
  topicName: %[1]s
  partitions: 1
  replicas: 1
---
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata:
  name: conform-refused
spec:
  topicName: %[2]s
  partitions: 1
  replicas: 1
---
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata:
  name: conform-dlq
spec:
  topicName: %[3]s
  partitions: 1
  replicas: 1
---
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata:
  name: conform-zero-backoff
spec:
  topicName: %[6]s
  partitions: 1
  replicas: 1
---
apiVersion: eventing.knative.dev/v1alpha1
kind: KafkaSink
metadata:
  name: dlq
spec:
  topic: %[3]s
  bootstrapServers: [kafka:9092]
  contentMode: binary
---
apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata:
  name: main
spec:
  bootstrapServers: [kafka:9092]
  topics: [%[1]s]
  consumerGroup: conform-main
  initialOffset: earliest
  ordering: ordered
  delivery:
    retry: 2
    backoffPolicy: linear
    backoffDelay: PT0.1S
    timeout: PT2S
    deadLetterSink:
      ref:
        apiVersion: eventing.knative.dev/v1alpha1
        kind: KafkaSink
        name: dlq
  sink:
    uri: %[4]s
---
apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata:
  name: zerobackoff
spec:
  bootstrapServers: [kafka:9092]
  topics: [%[6]s]
  consumerGroup: conform-zerobackoff
  initialOffset: earliest
  ordering: ordered
  delivery:
    retry: 2
    backoffPolicy: linear
    backoffDelay: PT0.05S
    timeout: PT2S
    deadLetterSink:
      ref:
        apiVersion: eventing.knative.dev/v1alpha1
        kind: KafkaSink
        name: dlq
  sink:
    uri: %[4]s
---
apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata:
  name: refused
spec:
  bootstrapServers: [kafka:9092]
  topics: [%[2]s]
  consumerGroup: conform-refused
  initialOffset: earliest
  ordering: ordered
  delivery:
    retry: 1
    backoffPolicy: linear
    backoffDelay: PT0.1S
    timeout: PT2S
    deadLetterSink:
      uri: %[5]s
  sink:
    uri: %[4]s
`, topicIn, topicRefused, topicDLQ, subscriber, refusingDLS, topicZeroBackoff),
	}
}

// request is what an HTTP server received, made comparable: the headers
// a run cannot repeat (times, trace ids, connection details) dropped.
type request struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// Headers whose values depend on the moment or the connection, not on the
// event: left out of the comparison.
var volatile = []string{"date", "content-length", "traceparent", "tracestate", "accept-encoding", "connection", "ce-time", "user-agent"}

func record(r *http.Request, body []byte) request {
	h := map[string]string{}
	for k, v := range r.Header {
		k = strings.ToLower(k)
		if slices.Contains(volatile, k) {
			continue
		}
		h[k] = strings.Join(v, ",")
	}
	return request{Headers: h, Body: string(body)}
}

// recorder is an HTTP server that remembers what it received, by case
// (the "case" it finds: the ce-id, else the key extension), and answers
// each with answer(body).
type recorder struct {
	mu     sync.Mutex
	got    map[string][]request
	order  []string
	answer func(body []byte) int
	server *httptest.Server
}

func newRecorder(answer func([]byte) int) *recorder {
	r := &recorder{got: map[string][]request{}, answer: answer}
	r.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		rec := record(req, body)
		r.mu.Lock()
		c := caseOf(rec)
		r.got[c] = append(r.got[c], rec)
		r.order = append(r.order, c)
		r.mu.Unlock()
		w.WriteHeader(r.answer(body))
	}))
	return r
}

func (r *recorder) snapshot() map[string][]request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]request{}
	for k, v := range r.got {
		out[k] = slices.Clone(v)
	}
	return out
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.order)
}

// caseOf names the input a request or record came from: every input's
// record key is its name, which both planes carry as the key extension
// of a plain record; a CloudEvent input's id is its name too.
func caseOf(r request) string {
	for _, h := range []string{"ce-key", "ce-id", "kafka-key"} {
		if v := r.Headers[h]; v != "" && !strings.HasPrefix(v, "partition:") {
			return v
		}
	}
	if m := regexp.MustCompile(`"id":"([^"]+)"`).FindStringSubmatch(r.Body); m != nil {
		return m[1]
	}
	return "?" + r.Headers["ce-id"]
}

var statusRe = regexp.MustCompile(`status\D{0,3}(\d{3})`)

func statusOf(body []byte) int {
	if m := statusRe.FindSubmatch(body); m != nil {
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	return http.StatusOK
}

// observation is what one data plane did with the inputs.
type observation struct {
	Delivered   map[string][]request `json:"delivered"`   // by case: every attempt at the subscriber
	DeadLetters map[string][]request `json:"deadLetters"` // by case: records in the dead-letter topic
	Refused     map[string][]request `json:"refused"`     // by case: attempts at the refusing dead-letter sink
	// Kept counts the dead letters a data plane kept when their sink
	// refused them (the local plane's spool), by source.
	Kept map[string]int `json:"kept"`
}

// normalize replaces the servers' addresses, which differ between the two
// runs, with their roles.
func (o observation) normalize(addresses map[string]string) observation {
	for _, m := range []map[string][]request{o.Delivered, o.DeadLetters, o.Refused} {
		for _, reqs := range m {
			for _, r := range reqs {
				for k, v := range r.Headers {
					for addr, role := range addresses {
						v = strings.ReplaceAll(v, addr, role)
					}
					r.Headers[k] = v
				}
			}
		}
	}
	return o
}

func run(t *testing.T, dataPlane plane.DataPlane) observation {
	t.Helper()
	sub := newRecorder(statusOf)
	defer sub.server.Close()
	refusing := newRecorder(func([]byte) int { return http.StatusInternalServerError })
	defer refusing.server.Close()
	dir := t.TempDir()
	for name, body := range manifests(sub.server.URL, refusing.server.URL) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	state := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	p, err := plane.Up(ctx, plane.Options{Manifests: dir, FunctionsDir: dir, StateDir: state, DataPlane: dataPlane,
		Command: func(string) []string { return []string{"false"} }, HoldLimit: 3 * time.Second})
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	defer p.Close()

	producer, err := sarama.NewSyncProducer(p.Brokers, p.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	all := inputs()
	for _, in := range all {
		msg := &sarama.ProducerMessage{Topic: topicIn, Key: sarama.StringEncoder(in.name), Value: sarama.StringEncoder(in.value)}
		if in.topic != "" {
			msg.Topic = in.topic
		}
		for k, v := range in.headers {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
		if _, _, err := producer.SendMessage(msg); err != nil {
			t.Fatalf("%s: %v", in.name, err)
		}
	}
	// Wait until nothing more happens: every input was delivered at least
	// once and neither the servers nor the dead-letter topic moved for 3s.
	var letters map[string][]request
	last, quiet := -1, time.Now()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		letters = readTopic(t, p, topicDLQ)
		n := sub.count() + refusing.count() + len(letters)*1000
		seen := sub.snapshot()
		everyOne := true
		for _, in := range all {
			if len(seen[in.name]) == 0 && !strings.HasPrefix(in.name, "ce-no-id") {
				everyOne = false
			}
		}
		if n != last {
			last, quiet = n, time.Now()
		} else if everyOne && time.Since(quiet) > 3*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: inputs still moving or missing after 2 minutes; delivered: %v", name(dataPlane), keys(seen))
		}
		time.Sleep(200 * time.Millisecond)
	}
	kept := map[string]int{}
	for source, letters := range p.Unsent() {
		kept[source] = len(letters)
	}
	obs := observation{Delivered: sub.snapshot(), DeadLetters: letters, Refused: refusing.snapshot(), Kept: kept}
	if out := os.Getenv("KNCONFORM_OUT"); out != "" && dataPlane != nil {
		// The JVMs' logs, for reading what Knative did and why.
		for _, role := range []string{"receiver", "dispatcher"} {
			if b, err := os.ReadFile(filepath.Join(state, "knative", role+".log")); err == nil {
				_ = os.WriteFile(filepath.Join(out, role+".log"), b, 0o644)
			}
		}
	}
	return obs.normalize(map[string]string{sub.server.URL: "<subscriber>", refusing.server.URL: "<refusing-sink>"})
}

func name(dp plane.DataPlane) string {
	if dp == nil {
		return "local"
	}
	return dp.Name()
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readTopic returns every record of a one-partition topic as a request:
// its headers (ce_ prefixes turned into the HTTP binding's ce-), its key
// as kafka-key, its value as the body.
func readTopic(t *testing.T, p *plane.Plane, topic string) map[string][]request {
	t.Helper()
	client := p.Kafka()
	newest, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]request{}
	if newest == 0 {
		return out
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for {
		msg := <-pc.Messages()
		h := map[string]string{"kafka-key": string(msg.Key)}
		for _, rh := range msg.Headers {
			k := strings.ToLower(string(rh.Key))
			if rest, ok := strings.CutPrefix(k, "ce_"); ok {
				k = "ce-" + rest
			}
			if slices.Contains(volatile, k) {
				continue
			}
			h[k] = string(rh.Value)
		}
		r := request{Headers: h, Body: string(msg.Value)}
		c := caseOf(r)
		out[c] = append(out[c], r)
		if msg.Offset+1 >= newest {
			return out
		}
	}
}

// differences lists, case by case, where the two observations part: the
// number of attempts, each header present in one or with another value,
// the body; for deliveries, dead letters and the refusing sink.
func differences(local, kn observation) []string {
	var out []string
	for _, part := range []struct {
		what string
		l, k map[string][]request
	}{{"delivered", local.Delivered, kn.Delivered}, {"dead-lettered", local.DeadLetters, kn.DeadLetters}, {"refusing dead-letter sink", local.Refused, kn.Refused}} {
		cases := keys(merge2(part.l, part.k))
		for _, c := range cases {
			l, k := part.l[c], part.k[c]
			if len(l) != len(k) {
				out = append(out, fmt.Sprintf("%s %s: %s times locally, %s by Knative", c, part.what, times(len(l)), times(len(k))))
			}
			if len(l) == 0 || len(k) == 0 {
				continue
			}
			a, b := l[0], k[0]
			for _, h := range keys(merge2(a.Headers, b.Headers)) {
				av, aok := a.Headers[h]
				bv, bok := b.Headers[h]
				switch {
				case !aok:
					out = append(out, fmt.Sprintf("%s %s: header %s only by Knative (%s)", c, part.what, h, clip(bv)))
				case !bok:
					out = append(out, fmt.Sprintf("%s %s: header %s only locally (%s)", c, part.what, h, clip(av)))
				case av != bv:
					out = append(out, fmt.Sprintf("%s %s: header %s: local %s, Knative %s", c, part.what, h, clip(av), clip(bv)))
				}
			}
			if a.Body != b.Body {
				out = append(out, fmt.Sprintf("%s %s: body: local %s, Knative %s", c, part.what, clip(a.Body), clip(b.Body)))
			}
		}
	}
	for _, source := range keys(merge2(local.Kept, kn.Kept)) {
		if local.Kept[source] != kn.Kept[source] {
			out = append(out, fmt.Sprintf("source %s: dead letters kept after their sink refused them: %d locally, %d by Knative", source, local.Kept[source], kn.Kept[source]))
		}
	}
	return out
}

// times is an attempt count. No source here makes more than 3 attempts
// by its delivery spec; past that (a partition held on a failing
// dead-letter sink, retried until the hold limit) the exact number
// depends on timing.
func times(n int) string {
	if n > 3 {
		return "more than 3"
	}
	return strconv.Itoa(n)
}

func merge2[V any](a, b map[string]V) map[string]V {
	out := map[string]V{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func clip(s string) string {
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strconv.Quote(s)
}

// TestSameRecordsThroughBothDataPlanes runs every input through the local
// plane and through Knative's receiver and dispatcher, each on an embedded
// broker of its own, and compares what the subscriber, the dead-letter
// topic and a refusing dead-letter sink saw. The differences must be
// exactly the known ones (testdata/differences.txt, explained in the
// README); -update rewrites the file from a run.
func TestSameRecordsThroughBothDataPlanes(t *testing.T) {
	if err := exec.Command(filepath.Join(root, knplane.Script), "built").Run(); err != nil {
		t.Skipf("Knative's data plane is not built (%s build: ~2 min with Maven and a JDK 21+, once)", knplane.Script)
	}
	local := run(t, nil)
	kn := run(t, knplane.New(knplane.Options{Root: root, Progress: io.Discard}))
	for _, o := range []struct {
		name string
		obs  observation
	}{{"local", local}, {"knative", kn}} {
		b, _ := json.MarshalIndent(o.obs, "", "  ")
		path := filepath.Join(t.TempDir(), o.name+".json")
		_ = os.WriteFile(path, b, 0o644)
		if dir := os.Getenv("KNCONFORM_OUT"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, o.name+".json"), b, 0o644)
		}
	}
	got := differences(local, kn)
	golden := filepath.Join("testdata", "differences.txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d differences to %s", len(got), golden)
		return
	}
	raw, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for _, d := range got {
		if !slices.Contains(want, d) {
			t.Errorf("new difference: %s", d)
		}
	}
	for _, d := range want {
		if !slices.Contains(got, d) {
			t.Errorf("known difference gone (update testdata and docs/local-plane.md): %s", d)
		}
	}
}
