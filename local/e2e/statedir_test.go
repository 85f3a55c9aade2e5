package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/shared/store/storetest"
)

// Two `orderflow up` started together on one state directory: one runs,
// the other fails at once naming the first's pid, and nothing of the one
// that runs is deleted (before, one try in three left the running one
// without its endpoints.json, removed by the loser on its way out, and a
// later `up` deleted its databases under it). A third `up` later is
// refused the same way. Three rounds, as the report that found it.
func TestTwoUpsOnOneStateDirOneRunsTheOtherNamesIt(t *testing.T) {
	args := upArgs(t)
	for round := 1; round <= 3; round++ {
		state := filepath.Join(t.TempDir(), "state")
		if b := brokers(); b != nil { // a real Kafka outlives the tests: start from empty topics
			resetKafka(t, plane.Options{Manifests: filepath.Join(root, "knative", "base"), Brokers: b})
		}
		a, b := startUp(t, state, args...), startUp(t, state, args...)
		var winner, loser *upProcess
		select {
		case <-a.exited:
			loser, winner = a, b
		case <-b.exited:
			loser, winner = b, a
		case <-time.After(3 * time.Minute):
			t.Fatalf("round %d: both `up` still run on one state directory:\n%s\n---\n%s", round, a.output(), b.output())
		}
		if loser.err == nil {
			t.Fatalf("round %d: the second up exited 0:\n%s", round, loser.output())
		}
		ep := winner.waitUp(t, state)
		holder := "in use by orderflow pid " + strconv.Itoa(winner.pid())
		if !strings.Contains(loser.output(), holder) {
			t.Fatalf("round %d: the refused up does not say %q:\n%s", round, holder, loser.output())
		}
		if got, err := plane.ReadEndpoints(state); err != nil || got.PID != winner.pid() {
			t.Fatalf("round %d: endpoints.json after the refused up left: %+v, %v; want the running one's", round, got, err)
		}
		dbs := functionDatabases(t, state)
		inodes := map[string]uint64{}
		for _, db := range dbs {
			if fi, err := os.Stat(db); err == nil {
				inodes[db] = fi.Sys().(*syscall.Stat_t).Ino
			}
		}
		if !storetest.OnPostgres() && len(dbs) < 5 {
			t.Fatalf("round %d: %d databases in %s, want one per function at least", round, len(dbs), state)
		}

		third := startUp(t, state, args...)
		if err := third.wait(t, time.Minute); err == nil || !strings.Contains(third.output(), holder) {
			t.Fatalf("round %d: a later up on the same state directory: %v\n%s", round, err, third.output())
		}
		for db, ino := range inodes {
			fi, err := os.Stat(db)
			if err != nil || fi.Sys().(*syscall.Stat_t).Ino != ino {
				t.Fatalf("round %d: %s was removed or replaced under the running up (%v)", round, db, err)
			}
		}
		// The running one is as usable as if it had been alone.
		place := exec.Command(binary, "--state-dir", state, "place", "--sku", "sku-tee:1")
		place.Dir = root
		if out, err := place.CombinedOutput(); err != nil || !strings.Contains(string(out), "CONFIRMED") {
			t.Fatalf("round %d: place on the running up (pid %d): %v\n%s", round, ep.PID, err, out)
		}
		winner.stop(t)
		if _, err := os.Stat(filepath.Join(state, plane.EndpointsFile)); !os.IsNotExist(err) {
			t.Fatalf("round %d: endpoints.json left after the up stopped: %v", round, err)
		}
	}
}

// A demo resumed on its state directory (--keep-state) checks the orders
// it placed, not the earlier run's: its stock check counted the first
// run's sales as its own and reported stock drift on a sound topology.
func TestADemoResumedOnItsStateChecksItsOwnOrders(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	if b := brokers(); b != nil {
		resetKafka(t, plane.Options{Manifests: filepath.Join(root, "knative", "base"), Brokers: b})
	}
	for _, extra := range [][]string{nil, {"--keep-state"}} {
		cmd := exec.Command(binary, append(append([]string{"--state-dir", state, "demo", "--orders", "150"}, extra...), upArgs(t)...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "stock drift 0") {
			t.Fatalf("demo %v: %v\n%s", extra, err, out)
		}
	}
}
