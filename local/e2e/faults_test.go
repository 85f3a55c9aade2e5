package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/fault"
)

// The fault-injection suite in its short form (CI): every scenario the
// broker allows, each on a fresh topology with a couple of hundred orders.
// `orderflow faults` runs the long form (thousands of orders).
func TestFaultInjectionSuite(t *testing.T) {
	orders := 200
	kind := ""
	script := filepath.Join(root, "scripts", "kafka.sh")
	switch {
	case os.Getenv("ORDERFLOW_E2E_CLUSTER") != "":
		kind = "cluster"
	case brokers() != nil && os.Getenv("ORDERFLOW_E2E_KAFKA_SCRIPT_CONTROLS") != "":
		kind = "kafka"
	}
	base := plane.Options{
		Manifests:    filepath.Join(root, "knative", "base"),
		FunctionsDir: filepath.Join(root, "functions"),
		Brokers:      brokers(),
		StateDir:     t.TempDir(),
		Command:      func(name string) []string { return []string{fnBinary, name} },
	}
	if cluster := os.Getenv("ORDERFLOW_E2E_CLUSTER"); cluster != "" {
		base.Brokers = strings.Split(cluster, ",")
	}
	cfg := fault.Config{Base: base, Orders: orders, Seed: 40, KafkaScript: script, Progress: testWriter{t},
		Databases: func(string) (map[string]string, error) { return databaseEnv(t), nil }}
	if base.Brokers != nil {
		cfg.Reset = func(ctx context.Context, servers []string) error {
			return fault.ResetBroker(ctx, base.Manifests, servers)
		}
	}
	all := fault.Scenarios()
	if only := os.Getenv("ORDERFLOW_E2E_FAULTS"); only != "" {
		var err error
		if all, err = fault.Select(all, strings.Split(only, ",")); err != nil {
			t.Fatal(err)
		}
	}
	run, skipped := fault.Applicable(all, kind)
	for _, s := range skipped {
		t.Logf("scenario %s needs a %s broker: skipped here (make test-real runs it)", s.Name, s.Needs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	rows := fault.Run(ctx, cfg, run)
	var table strings.Builder
	fault.Table(&table, rows)
	t.Log("\n" + table.String())
	for _, r := range rows {
		if !r.OK() {
			t.Errorf("scenario %s failed: %+v", r.Scenario, r)
		}
	}
}
