package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// orderflow bench with a warm-up, on the embedded broker: the warm-up's
// orders end on the rate's own topology before the measured ones are
// placed, and its work is not counted as theirs (the counts per order stay
// what one order costs, about 21 HTTP round trips; with the warm-up's
// counted in they would be about twice that); the results file says how
// it was measured. A small run: what is checked is the accounting, not a
// speed.
func TestBenchWarmUpIsNotCountedAsTheRatesWork(t *testing.T) {
	if len(brokers()) > 0 {
		t.Skip("bench resets a real Kafka's saga topics; the embedded broker is enough for the accounting")
	}
	dir := t.TempDir()
	results := filepath.Join(dir, "bench.json")
	cmd := exec.Command(binary, "bench", "--rates", "200", "--orders", "40", "--warmup-orders", "60", "--scale", "*=1",
		"--ceiling-for", "300ms", "--state-dir", filepath.Join(dir, "state"), "--results", results)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = testWriter{t}, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("orderflow bench: %v\nstderr:\n%s", err, stderr.String())
	}
	raw, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		WarmUpOrders int      `json:"warmupOrders"`
		Scale        []string `json:"scale"`
		Rates        []struct {
			InvariantsOK bool `json:"invariantsOK"`
			Work         struct {
				OrdersEnded int    `json:"ordersEnded"`
				Deliveries  uint64 `json:"sourceDeliveries"`
				SinkWrites  uint64 `json:"sinkWrites"`
			} `json:"work"`
			PerOrder map[string]float64 `json:"perOrder"`
		} `json:"rates"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("%s: %v", results, err)
	}
	if res.WarmUpOrders != 60 || len(res.Scale) != 1 || res.Scale[0] != "*=1" {
		t.Errorf("results say warm-up %d, scale %v; want 60 and [*=1]", res.WarmUpOrders, res.Scale)
	}
	if len(res.Rates) != 1 {
		t.Fatalf("%d rates in the results, want 1", len(res.Rates))
	}
	r := res.Rates[0]
	if !r.InvariantsOK || r.Work.OrdersEnded != 40 {
		t.Errorf("invariants ok %v, %d orders ended; want true and the 40 measured", r.InvariantsOK, r.Work.OrdersEnded)
	}
	// Six ingress writes an order (placement and five publishes); with the
	// warm-up's 60 orders counted in, 40 measured ones would show 15.
	if sw := r.PerOrder["kafka-produce"]; sw < 5 || sw > 7 {
		t.Errorf("records produced per order %.2f (work %+v), want about 6: the warm-up's were counted or the run's were not", sw, r.Work)
	}
	if rt := r.PerOrder["http-round-trip"]; rt < 18 || rt > 25 {
		t.Errorf("HTTP round trips per order %.2f, want about 21", rt)
	}
}
