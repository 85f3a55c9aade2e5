package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/demo"
	"orderflow.dev/local/replay"
	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/store/storetest"
)

// TestReplayRebuildsTheLiveModels runs a few hundred orders, then rebuilds
// analytics and the order read model from offset 0 of the log, with the
// replay library and with the built CLI (against --brokers), and finds them
// equal to the live ones; then corrupts one live row and proves verify
// names that difference and fails. On the Apache Kafka half of the suite
// (ORDERFLOW_E2E_BROKERS, and PostgreSQL) the same runs against them.
func TestReplayRebuildsTheLiveModels(t *testing.T) {
	var env map[string]string
	p := up(t, func(o *plane.Options) { env = o.Env })
	const orders = 300
	res := runDemo(t, p, orders, 31)
	if !res.OK() {
		t.Fatalf("run failed:\n%s", res.Check)
	}
	set, err := manifests.Load(filepath.Join(root, "knative", "base"))
	if err != nil {
		t.Fatal(err)
	}
	liveURL := func(name string) string {
		if u := env[name+"/ORDERFLOW_DATABASE_URL"]; u != "" {
			return u // PostgreSQL: the endpoints file keeps no password
		}
		return p.Endpoints().Databases[name]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The demo returns once every order has its outcome; the
	// notifications (and the analytics of them) trail it. Let them land,
	// so that verify compares every order rather than leave the last ones
	// out as in flight (which it would, correctly).
	deadline := time.Now().Add(time.Minute)
	for {
		ends, err := replay.EndOffsets(p.Kafka(), []string{events.TopicNotifications})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, e := range ends[events.TopicNotifications] {
			n += e
		}
		if n >= orders || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, name := range []string{"analytics", "order"} {
		t.Run(name, func(t *testing.T) {
			fn, err := replay.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := replay.PlanFor(set, fn)
			if err != nil {
				t.Fatal(err)
			}
			into := storetest.Open(t, "rebuilt-"+name)
			var progress bytes.Buffer
			r, err := replay.Run(ctx, fn, replay.Options{Client: p.Kafka(), Plan: plan, Into: into, Progress: &progress, ProgressEvery: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s\n%s", r.Summary(), progress.String())
			if r.Outcomes[handler.ReplayApplied] < orders {
				t.Fatalf("%s: applied %v, want at least one record per order", name, r.Outcomes)
			}
			opts := replay.VerifyOptions{Client: p.Kafka(), Plan: plan, LiveURL: liveURL(name), CopyDir: t.TempDir(), Settle: time.Minute}
			v, err := replay.Verify(ctx, fn, into, r, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range v.Differences {
				t.Error(d)
			}
			t.Logf("verify %s: %d compared, %d in flight", name, v.Compared, len(v.Excluded))
			if v.Compared < orders*9/10 {
				t.Fatalf("compared %d orders of %d (left out %v)", v.Compared, orders, v.Excluded)
			}

			// Corrupt one live row (on SQLite, in a copy, which verify then
			// reads): verify names exactly that field and fails.
			live, closeLive, err := replay.OpenLive(ctx, liveURL(name), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer closeLive()
			opts.Live = live
			victim := ""
			for _, o := range res.Results {
				if !slices.Contains(v.Excluded, o.ID) {
					victim = o.ID
					break
				}
			}
			table, column, field := "analytics_sagas", "reason", "saga.reason"
			if name == "order" {
				table, column, field = "order_view", "customer_id", "view.customerId"
			}
			var was string
			if err := live.QueryRow(ctx, `SELECT `+column+` FROM `+table+` WHERE order_id = ?`, victim).Scan(&was); err != nil {
				t.Fatal(err)
			}
			if _, err := live.Exec(ctx, `UPDATE `+table+` SET `+column+` = 'mallory' WHERE order_id = ?`, victim); err != nil {
				t.Fatal(err)
			}
			v, err = replay.Verify(ctx, fn, into, r, opts)
			if err != nil {
				t.Fatal(err)
			}
			want := replay.Difference{OrderID: victim, Field: field, Live: "mallory", Rebuilt: was}
			if v.OK() || len(v.Differences) != 1 || v.Differences[0] != want {
				t.Fatalf("after corrupting %s of %s: %v, want exactly %v", field, victim, v.Differences, want)
			}
			// Put it back: on PostgreSQL the live row is the live row.
			if _, err := live.Exec(ctx, `UPDATE `+table+` SET `+column+` = ? WHERE order_id = ?`, was, victim); err != nil {
				t.Fatal(err)
			}
		})
	}

	if storetest.OnPostgres() {
		// While orders keep coming (PostgreSQL only: there verify reads the
		// live store in place; a SQLite file under full load keeps
		// changing under the copy), verify still finds no difference: it
		// compares the orders settled at the snapshot and leaves out the
		// ones in flight.
		busy := make(chan error, 1)
		go func() {
			more, err := demo.Run(ctx, target(t, p), demo.Config{Orders: 200, Concurrency: 8, Seed: 32, RunID: "e2e32",
				Timeout: 3 * time.Minute, Settle: 30 * time.Second})
			// Every order ended as built to; stock is not checked, since
			// inventory's counts include the first run's sales.
			if c := more.Check; err == nil && (c.Lost > 0 || c.MultiTerminal > 0 || c.DoubleCharged > 0 || c.NetCharged > 0 || len(more.Unexpected) > 0) {
				err = fmt.Errorf("second run failed:\n%s\nunexpected: %v", more.Check, more.Unexpected)
			}
			busy <- err
		}()
		time.Sleep(3 * time.Second) // the second run under way
		fn, _ := replay.Lookup("order")
		plan, err := replay.PlanFor(set, fn)
		if err != nil {
			t.Fatal(err)
		}
		into := storetest.Open(t, "rebuilt-busy")
		r, err := replay.Run(ctx, fn, replay.Options{Client: p.Kafka(), Plan: plan, Into: into})
		if err != nil {
			t.Fatal(err)
		}
		v, err := replay.Verify(ctx, fn, into, r, replay.VerifyOptions{Client: p.Kafka(), Plan: plan, LiveURL: liveURL("order"), Settle: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range v.Differences {
			t.Error("while busy:", d)
		}
		t.Logf("verify order while busy: %s; %d compared, %d in flight", r.Summary(), v.Compared, len(v.Excluded))
		if v.Compared < orders {
			t.Errorf("compared %d, want at least the %d orders settled before", v.Compared, orders)
		}
		if err := <-busy; err != nil {
			t.Fatal(err)
		}
	}

	// The built CLI, against the plane's Kafka named with --brokers (on
	// the real-Kafka half, that Kafka), verifying against the live store.
	for _, name := range []string{"analytics", "order"} {
		cmd := exec.Command(binary, "replay", name, "--brokers", strings.Join(p.Endpoints().Brokers, ","), "--verify",
			"--live-database", liveURL(name), "--root", root, "--state-dir", t.TempDir(), "--progress", "100ms")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		t.Logf("orderflow replay %s --verify:\n%s%s", name, stderr.String(), stdout.String())
		if err != nil {
			t.Fatalf("orderflow replay %s --verify: %v", name, err)
		}
		if !strings.Contains(stdout.String(), "0 difference(s)") || !strings.Contains(stderr.String(), "replay "+name+": ") {
			t.Fatalf("replay %s: no verdict or no progress", name)
		}
	}
}

// TestReplayCommandErrors: bad input to `orderflow replay` exits non-zero
// with one line naming what is wrong, before touching any store.
func TestReplayCommandErrors(t *testing.T) {
	state := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"replay", "inventory"}, `cannot replay "inventory": replay rebuilds analytics, order`},
		{[]string{"replay"}, "accepts 1 arg(s)"},
		{[]string{"replay", "order", "--brokers", "127.0.0.1:1"}, "cannot reach Kafka: kafka 127.0.0.1:1"},
		{[]string{"replay", "order"}, "no orderflow is running with state in " + state},
		{[]string{"replay", "order", "--live-database", "sqlite:///x.db"}, "--live-database is only read with --verify"},
		{[]string{"replay", "order", "--brokers", "127.0.0.1:1", "--verify"}, "--verify needs the live database: give --live-database"},
		{[]string{"replay", "order", "--progress", "0s"}, "--progress 0s: must be positive"},
	}
	for _, tt := range tests {
		cmd := exec.Command(binary, append(tt.args, "--root", root, "--state-dir", state)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) || strings.Contains(string(out), "goroutine ") {
			t.Errorf("orderflow %s: %v\n%s\nwant an error saying %q", strings.Join(tt.args, " "), err, out, tt.want)
		}
	}
}
