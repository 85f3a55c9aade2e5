package ceiling

import (
	"context"
	"testing"
	"time"

	"orderflow.dev/shared/store/storetest"
)

// Each primitive, briefly, against what the bench uses by default: a
// loopback server, the embedded broker, SQLite (or PostgreSQL with
// ORDERFLOW_TEST_POSTGRES_URL).
func TestMeasure(t *testing.T) {
	const d = 300 * time.Millisecond
	ctx := context.Background()
	var seen []Primitive
	progress := func(p Primitive, _ time.Duration, _ int64) { seen = append(seen, p) }

	httpRate, err := MeasureHTTP(ctx, d, 4, progress)
	if err != nil {
		t.Fatal(err)
	}
	produce, consume, err := MeasureKafka(ctx, Kafka{Partitions: 3, Replicas: 1, Producers: 4, Readers: 2}, d, progress)
	if err != nil {
		t.Fatal(err)
	}
	storeRate, err := MeasureStore(ctx, []Database{{Name: "a", URL: storetest.URL(t, "a"), Workers: 2}, {Name: "b", URL: storetest.URL(t, "b"), Workers: 1}}, d, progress)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Rate{httpRate, produce, consume, storeRate} {
		t.Logf("%s: %d ops in %.2fs, %.0f/s, %d at once", r.Primitive, r.Ops, r.Seconds, r.PerSecond(), r.Concurrency)
		if r.Ops == 0 || r.PerSecond() <= 0 {
			t.Errorf("%s: nothing measured", r.Primitive)
		}
	}
	if offered := 2 * max(produce.Ops, minConsumeRecords); consume.Ops > offered {
		t.Errorf("two readers counted %d records of %d", consume.Ops, offered)
	}
	if storeRate.Concurrency != 3 {
		t.Errorf("store measured with %d workers, want 3 (2 + 1)", storeRate.Concurrency)
	}
	for _, p := range Primitives {
		if !contains(seen, p) {
			t.Errorf("no progress for %s", p)
		}
	}
}

func contains(ps []Primitive, p Primitive) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
