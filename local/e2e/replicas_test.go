package e2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/serving"
	"orderflow.dev/local/demo"
	"orderflow.dev/shared/store/storetest"
)

// needPostgres: replicas of a function share one database, which SQLite
// cannot be. Without ORDERFLOW_TEST_POSTGRES_URL the test skips, or fails
// under ORDERFLOW_REQUIRE_TOOLS (make test-real gives it one).
func needPostgres(t *testing.T) {
	t.Helper()
	if !storetest.OnPostgres() {
		needTool(t, "ORDERFLOW_TEST_POSTGRES_URL is not set: replicas of a function need PostgreSQL (scripts/postgres.sh start; make test-real sets it)")
	}
}

// partitionsOverlay is knative/base with every topic at n partitions: a
// kustomization of its own in a temporary directory, as an overlay of a
// cluster is.
func partitionsOverlay(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	base, err := filepath.Rel(dir, filepath.Join(root, "knative", "base"))
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: orderflow
resources:
  - %s
patches:
  - target:
      group: kafka.strimzi.io
      kind: KafkaTopic
    patch: |-
      - op: replace
        path: /spec/partitions
        value: %d
`, base, n)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hotStock leaves three everyday SKUs short, so that part way through a
// run of normal orders they run out and the replicas of inventory race
// for the last units; the rest of the catalogue as stock.json has it.
const hotStock = "sku-tee=800,sku-mug=800,sku-cap=800,sku-hoodie=100000,sku-sticker=100000,sku-poster=40,sku-lamp=100000"

// 12 partitions, 4 replicas of every function on PostgreSQL, 2,000 orders
// over three hot SKUs whose stock runs out part way, every event delivered
// twice, replicas killed at random throughout: inventory's row locks,
// payment's idempotency keys and order's version check meet real
// concurrency. The invariants hold: every accepted order in exactly one
// terminal state, no SKU oversold or lost (available + reserved + sold =
// initial, never negative), no payment charged twice, every charge of a
// cancelled order refunded. On the embedded broker always, and on Apache
// Kafka when the suite runs against one (make test-real).
func TestContentionWithReplicasOnPostgres(t *testing.T) {
	needPostgres(t)
	t.Run("embedded", func(t *testing.T) { contention(t, nil) })
	if b := brokers(); b != nil {
		t.Run("kafka", func(t *testing.T) { contention(t, b) })
	}
}

func contention(t *testing.T, kafka []string) {
	const orders, replicas = 2000, 4
	overlay := partitionsOverlay(t, 12)
	p := up(t, func(o *plane.Options) {
		o.Manifests, o.Brokers = overlay, kafka
		o.Scale = map[string]serving.Scale{"*": {Min: replicas, Max: replicas}}
		o.DuplicateDelivery = true
		o.Env["inventory/INVENTORY_STOCK"] = hotStock
	})
	for name, st := range p.Services() {
		if st.Ready != replicas {
			t.Fatalf("%s: %d replicas ready, want %d", name, st.Ready, replicas)
		}
	}
	for _, tp := range p.Set.Topics {
		if tp.Partitions != 12 {
			t.Fatalf("topic %s has %d partitions, want 12 (the overlay)", tp.TopicName, tp.Partitions)
		}
	}

	// The nemesis of this test: every 1 to 3 s a replica of a random
	// function is killed -9; its service replaces it.
	ctx, stop := context.WithCancel(context.Background())
	var killed sync.Map // function -> kills
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(21, 21))
		names := slices.Sorted(maps.Keys(p.Endpoints().Functions))
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second + time.Duration(rng.IntN(2000))*time.Millisecond):
			}
			name := names[rng.IntN(len(names))]
			rs := p.Replicas(name)
			if len(rs) == 0 {
				continue
			}
			rs[rng.IntN(len(rs))].Kill()
			n, _ := killed.LoadOrStore(name, new(int))
			*n.(*int)++
		}
	})
	runCtx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res, err := demo.Run(runCtx, target(t, p), demo.Config{Orders: orders, Concurrency: 16, Seed: 12,
		RunID: "contention", Timeout: 6 * time.Minute, Settle: time.Minute})
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res.Print(&out)
	t.Log(out.String())

	kills := map[string]int{}
	killed.Range(func(k, v any) bool { kills[k.(string)] = *v.(*int); return true })
	t.Logf("replicas killed: %v; replaced: %v", kills, p.Restarts())
	if len(kills) == 0 {
		t.Fatal("no replica was killed: the test proved nothing about kills")
	}

	if !res.Check.OK() || res.NotAccepted != 0 || res.Check.Open != 0 {
		t.Fatalf("invariants: %+v (not accepted %d)", res.Check, res.NotAccepted)
	}
	if res.Check.Confirmed+res.Check.Cancelled != orders {
		t.Fatalf("%d confirmed and %d cancelled of %d accepted", res.Check.Confirmed, res.Check.Cancelled, orders)
	}
	// Orders built to be confirmed may meet the short SKUs: out of stock
	// is then their right end, and no other.
	for _, u := range res.Unexpected {
		if u.Outcome != "cancelled:out_of_stock" {
			t.Errorf("order %s (%s) ended %s, want one of %v", u.ID, u.Kind, u.Outcome, u.Expected)
		}
	}
	if res.Stock == nil {
		t.Fatal("the check read no stock")
	}
	for _, s := range res.Stock.Stock {
		if s.Available < 0 || s.Reserved < 0 || s.Sold < 0 || s.Available+s.Reserved+s.Sold != s.Initial {
			t.Errorf("%s: available %d + reserved %d + sold %d, initial %d", s.SKU, s.Available, s.Reserved, s.Sold, s.Initial)
		}
	}
	// Normal orders take only everyday SKUs, of which only the hot ones
	// can run short: some confirmed and some out of stock means the hot
	// SKUs ran out part way, and the replicas raced for the last units.
	if normal := res.ByKind[demo.Normal]; normal["cancelled:out_of_stock"] == 0 || normal["confirmed"] == 0 {
		t.Errorf("the hot SKUs did not run out part way (stock %+v, normal orders %v): the race for the last units was not tried", res.Stock.Stock, normal)
	}
}

// Every function may scale to zero with a stable window of a second: idle,
// each goes to zero; an order then wakes each step in turn through its
// activator (held, never refused, lost or dead-lettered for being early),
// and a PingSource tick wakes the function it is for. SQLite will do: one
// replica at most.
func TestScaleToZeroWakesOnAnOrderAndOnATick(t *testing.T) {
	p := up(t, func(o *plane.Options) {
		o.Scale = map[string]serving.Scale{"*": {Min: 0, Max: 1}}
		o.Windows = serving.WindowsOf(time.Second)
		o.PingEvery = 4 * time.Second // idle long enough between ticks to reach zero
	})
	// Each function reaches zero (a ping's function may wake again on the
	// next tick; the others stay there until the orders come).
	been := map[string]bool{}
	waitUntil(t, "every function at zero once", 30*time.Second, func() bool {
		for name, st := range p.Services() {
			if st.Replicas == 0 {
				been[name] = true
			}
		}
		return len(been) == len(p.Services())
	})
	res := runDemo(t, p, 40, 5)
	expectSplit(t, res, 40)
	for name, st := range p.Services() {
		if st.ColdStarts == 0 {
			t.Errorf("%s: no cold start recorded, though it went to zero before the orders came (%+v)", name, st)
		}
		if st.Replaced != 0 {
			t.Errorf("%s: %d replicas ended unplanned", name, st.Replaced)
		}
		for _, e := range st.Events {
			t.Logf("%s: %s %d -> %d (%s)", name, e.At.Format("15:04:05.000"), e.From, e.To, e.Why)
		}
	}
	for name, s := range p.SourceStats() {
		if s.DeadLettered != 0 {
			t.Errorf("source %s dead-lettered %d events: a delivery at zero must wait for its replica", name, s.DeadLettered)
		}
	}

	// A PingSource's tick finds its function at zero and wakes it.
	var ticked []string
	for _, ps := range p.Set.Pings {
		if r := ps.Sink.Ref; r != nil && !slices.Contains(ticked, r.Name) {
			ticked = append(ticked, r.Name)
		}
	}
	if len(ticked) == 0 {
		t.Fatal("no PingSource delivers to a function")
	}
	before, pings := p.Services(), p.Pings()
	waitUntil(t, "a tick waking its function from zero", 30*time.Second, func() bool {
		now := p.Services()
		for _, name := range ticked {
			if now[name].ColdStarts > before[name].ColdStarts && p.Pings() > pings {
				return true
			}
		}
		return false
	})
}

func waitUntil(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
