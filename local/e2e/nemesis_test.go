package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/nemesis"
)

// The nemesis in its short form: a few fixed seeds, each a random schedule
// of overlapping faults over a couple of hundred orders on a fresh
// topology, the invariants checked after each. `orderflow faults
// --nemesis` runs the long form (docs/nemesis.md).
func TestNemesisFixedSeeds(t *testing.T) {
	if brokers() != nil {
		t.Skip("the nemesis runs on the embedded broker")
	}
	cfg := nemesis.Config{
		Base: plane.Options{
			Manifests:    filepath.Join(root, "knative", "base"),
			FunctionsDir: filepath.Join(root, "functions"),
			StateDir:     t.TempDir(),
			Command:      func(name string) []string { return []string{fnBinary, name} },
		},
		Orders: 300, Rate: 50, MinFaults: 3, MaxFaults: 6, SettleBound: 2 * time.Minute, Progress: testWriter{t},
		Databases: func(uint64) (map[string]string, error) { return databaseEnv(t), nil },
	}
	seeds := []uint64{3, 8, 11}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	results, err := nemesis.Suite(ctx, cfg, seeds, filepath.Join(cfg.Base.StateDir, "results"),
		func(s uint64) string {
			return fmt.Sprintf("orderflow faults --nemesis --seed %d --runs 1 --orders %d", s, cfg.Orders)
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(seeds) {
		t.Fatalf("%d results for %d seeds", len(results), len(seeds))
	}
	injected := map[nemesis.Kind]bool{}
	for _, r := range results {
		if !r.OK() {
			var v []string
			for _, x := range r.Violations {
				v = append(v, x.String())
			}
			t.Errorf("seed %d: %s\n%s", r.Seed, r.Err, strings.Join(v, "\n"))
		}
		if r.Placed != cfg.Orders {
			t.Errorf("seed %d: %d placed, want %d", r.Seed, r.Placed, cfg.Orders)
		}
		for _, in := range r.History {
			if !in.Injected {
				t.Errorf("seed %d: %s", r.Seed, in)
			}
		}
		for _, k := range nemesis.InjectedKinds(r.History) {
			injected[k] = true
		}
		if _, err := os.Stat(filepath.Join(cfg.Base.StateDir, "results", fmt.Sprintf("seed-%d.png", r.Seed))); err != nil {
			t.Errorf("seed %d: no picture: %v", r.Seed, err)
		}
	}
	// The seeds were chosen so that together they inject several kinds,
	// among them a broker restart and faults on the broker links (a
	// change to the generator that draws other schedules must choose
	// seeds that still do: `orderflow faults --nemesis --dry-run`).
	for _, k := range []nemesis.Kind{nemesis.KillFunction, nemesis.RestartBroker, nemesis.NetworkPartition, nemesis.NetworkReset, nemesis.DuplicateDelivery} {
		if !injected[k] {
			t.Errorf("the fixed seeds injected no %s (they injected %v)", k, injected)
		}
	}
}
