package e2e

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/kafkalog"
)

// copyCheckout copies the tree's sources (not its caches, builds or
// state) into a fresh directory: a clone as a newcomer has it.
func copyCheckout(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, p := range []string{"go.work", "go.work.sum", "Makefile", "functions", "knative", "shared", "knlocal", "local", "deploy", "tools", "scripts"} {
		src := filepath.Join(root, p)
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if d.IsDir() {
				if d.Name() == ".func" || d.Name() == ".orderflow" {
					return filepath.SkipDir
				}
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			info, err := d.Info()
			if err != nil || !info.Mode().IsRegular() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// `orderflow new function` on a copy of the tree: what it writes passes
// the tree's own checks (tidy, vet, the function's tests, deploy/validate,
// the schema gate, a build with GOWORK=off), and once built the topology
// runs it: an order confirmed reaches the new step, which publishes its
// event into its own topic, with the saga's correlation and causation, and
// refuses nothing its topic carries.
func TestNewFunctionJoinsTheTopology(t *testing.T) {
	dir := copyCheckout(t)
	run := func(name string, args ...string) string {
		t.Helper()
		c := exec.Command(name, args...)
		c.Dir = dir
		// The copy has no caches: the schema gate's cross-check uses the
		// checkout's jsoncompat (make test installed it there).
		c.Env = append(os.Environ(), "GOFLAGS=")
		if os.Getenv("ORDERFLOW_JSONCOMPAT_VENV") == "" {
			c.Env = append(c.Env, "ORDERFLOW_JSONCOMPAT_VENV="+filepath.Join(root, ".cache", "venv-jsoncompat"))
		}
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("go", "run", "./local/cmd/orderflow", "new", "function", "shipping", "--on", "order.confirmed", "--emits", "shipment.booked")
	t.Logf("orderflow new function:\n%s", out)
	if !strings.Contains(out, "publishes dev.orderflow.shipment.booked.v1 on orderflow.shipping") {
		t.Fatalf("new function said:\n%s", out)
	}
	run("bash", "scripts/tidy.sh", "--check", "functions/shipping", "local", "deploy/validate")
	run("go", "vet", "./functions/shipping/...", "./local/fnserve/...", "./shared/events/...")
	run("go", "test", "-count=1", "./functions/shipping/...", "./local/fnserve/", "./shared/events/...", "./deploy/validate/")
	if out := run("go", "run", "./local/cmd/orderflow", "schemas", "check"); !strings.Contains(out, "dev.orderflow.shipment.booked") || !strings.Contains(out, " 0 breaking") {
		t.Fatalf("schemas check:\n%s", out)
	}
	// As func builds it: the folder alone, shared taken as v0.1.0.
	run("bash", "-c", `root="$PWD"; source scripts/lib/func-env.sh; cd functions/shipping && go build ./...`)
	run("go", "build", "-o", "bin/orderflow", "./local/cmd/orderflow")
	run("go", "build", "-o", "bin/orderflow-fn", "./local/cmd/orderflow-fn")

	state := t.TempDir()
	u := startUpIn(t, filepath.Join(dir, "bin", "orderflow"), dir, state, upArgs(t)...)
	ep := u.waitUp(t, state)
	if ep.Functions["shipping"] == "" || ep.DLQTopics["shipping"] == "" {
		t.Fatalf("the topology runs no shipping function: functions %v, dead-letter topics %v", ep.Functions, ep.DLQTopics)
	}
	id := "o-new-function-" + time.Now().Format("150405.000000")
	if out := run(filepath.Join(dir, "bin", "orderflow"), "--state-dir", state, "place", "--sku", "sku-tee:1", "--id", id); !strings.Contains(out, id+": CONFIRMED") {
		t.Fatalf("place:\n%s", out)
	}
	kc, err := broker.NewClient(ep.Brokers, "orderflow-e2e-new-function")
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	ctx := context.Background()
	var confirmed string
	for _, r := range mustRead(t, ctx, kc, "orderflow.orders") {
		if r.Event != nil && r.Event.Type() == "dev.orderflow.order.confirmed.v1" && r.Key == id {
			confirmed = r.Event.ID()
		}
	}
	if confirmed == "" {
		t.Fatalf("no order.confirmed of %s in orderflow.orders", id)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var booked []kafkalog.Record
		for _, r := range mustRead(t, ctx, kc, "orderflow.shipping") {
			if r.Event != nil && r.Key == id {
				booked = append(booked, r)
			}
		}
		if len(booked) == 1 {
			e := booked[0].Event
			ext := e.Extensions()
			if e.Type() != "dev.orderflow.shipment.booked.v1" || e.Source() != "/orderflow/shipping" || ext["correlationid"] != id || ext["causationid"] != confirmed {
				t.Fatalf("shipping published %s from %s, extensions %v; want shipment.booked caused by %s", e.Type(), e.Source(), ext, confirmed)
			}
			break
		}
		if len(booked) > 1 || time.Now().After(deadline) {
			t.Fatalf("%d records of %s in orderflow.shipping, want one shipment.booked", len(booked), id)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Its topic carries order.created and order.cancelled too: ignored on
	// purpose, not dead-lettered.
	if letters := mustRead(t, ctx, kc, ep.DLQTopics["shipping"]); len(letters) != 0 {
		t.Fatalf("%d dead letters of shipping, want none (first: %v)", len(letters), letters[0].Event)
	}
}

func mustRead(t *testing.T, ctx context.Context, kc sarama.Client, topic string) []kafkalog.Record {
	t.Helper()
	recs, err := kafkalog.ReadAll(ctx, kc, topic)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	return recs
}
