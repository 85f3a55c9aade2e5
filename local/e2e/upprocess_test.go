package e2e

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/source"
	"orderflow.dev/local/client"
)

// upProcess is `orderflow up` as a user runs it: a process of its own,
// started from the CLI binary, its output in a file.
type upProcess struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // how it ended, once exited is closed
}

// upArgs are the arguments every `up` of a test gets: the suite's Kafka
// when it runs on one, and the functions' databases on PostgreSQL when it
// does (the same schemas for every `up` of the test, so a restart finds
// them).
func upArgs(t *testing.T) []string {
	t.Helper()
	var args []string
	if b := brokers(); b != nil {
		args = append(args, "--brokers", strings.Join(b, ","))
	}
	env := databaseEnv(t)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		args = append(args, "--env", k+"="+env[k])
	}
	return args
}

// startUp runs `orderflow --state-dir state up args...`.
func startUp(t *testing.T, state string, args ...string) *upProcess {
	t.Helper()
	return startUpIn(t, binary, root, state, args...)
}

// startUpIn is startUp with the CLI bin run in the tree dir.
func startUpIn(t *testing.T, bin, dir, state string, args ...string) *upProcess {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "up-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--state-dir", state, "up"}, args...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	u := &upProcess{cmd: cmd, log: logf.Name(), exited: make(chan struct{})}
	go func() {
		u.err = cmd.Wait()
		logf.Close()
		close(u.exited)
	}()
	t.Cleanup(func() {
		u.stop(t)
		if t.Failed() {
			t.Logf("--- orderflow up (pid %d) output:\n%s", cmd.Process.Pid, u.output())
		}
	})
	return u
}

func (u *upProcess) pid() int { return u.cmd.Process.Pid }

func (u *upProcess) output() string {
	b, _ := os.ReadFile(u.log)
	return string(b)
}

func (u *upProcess) done() bool {
	select {
	case <-u.exited:
		return true
	default:
		return false
	}
}

// waitUp waits until this process's endpoints.json is in state.
func (u *upProcess) waitUp(t *testing.T, state string) plane.Endpoints {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if ep, err := plane.ReadEndpoints(state); err == nil && ep.PID == u.pid() {
			return ep
		}
		if u.done() {
			t.Fatalf("orderflow up (pid %d) exited (%v) before it was up:\n%s", u.pid(), u.err, u.output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("orderflow up (pid %d) not up within 2 minutes:\n%s", u.pid(), u.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wait waits for the process to exit.
func (u *upProcess) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-u.exited:
		return u.err
	case <-time.After(within):
		t.Fatalf("orderflow up (pid %d) still running after %s:\n%s", u.pid(), within, u.output())
		return nil
	}
}

// kill ends it as a crash would: SIGKILL, no Close, no flush.
func (u *upProcess) kill(t *testing.T) {
	t.Helper()
	if err := u.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	u.wait(t, 30*time.Second)
}

// stop interrupts it as Ctrl-C does and waits for its orderly stop.
func (u *upProcess) stop(t *testing.T) {
	if u.done() {
		return
	}
	_ = u.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-u.exited:
	case <-time.After(time.Minute):
		_ = u.cmd.Process.Kill()
		<-u.exited
		t.Errorf("orderflow up (pid %d) did not stop within a minute of SIGINT", u.pid())
	}
}

// functionDatabases lists the SQLite files of the functions in state.
func functionDatabases(t *testing.T, state string) []string {
	t.Helper()
	dbs, _ := filepath.Glob(filepath.Join(state, "db", "*.db"))
	return dbs
}

// attachedDemo is `orderflow demo --attach` as a user runs it against an
// `up`: a process of its own, its output in a file.
type attachedDemo struct {
	log  string
	done chan error // its exit
}

// startDemo runs `orderflow --state-dir state demo --attach args...`.
func startDemo(t *testing.T, state string, args ...string) *attachedDemo {
	t.Helper()
	d := &attachedDemo{log: filepath.Join(t.TempDir(), "demo.log"), done: make(chan error, 1)}
	out, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	run := exec.Command(binary, append([]string{"--state-dir", state, "demo", "--attach"}, args...)...)
	run.Dir = root
	run.Stdout, run.Stderr = out, out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.done <- run.Wait()
		out.Close()
	}()
	t.Cleanup(func() {
		_ = run.Process.Kill()
		if t.Failed() {
			t.Logf("--- demo --attach output:\n%s", d.output())
		}
	})
	return d
}

func (d *attachedDemo) output() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// wait waits for the demo to exit.
func (d *attachedDemo) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-d.done:
		return err
	case <-time.After(within):
		t.Fatalf("demo --attach still running after %s:\n%s", within, d.output())
		return nil
	}
}

// waitDelivered waits until the KafkaSource src has delivered n events.
func waitDelivered(t *testing.T, ep plane.Endpoints, src string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var stats map[string]source.Stats
		err := client.GetJSON(context.Background(), ep.API+"/api/sources", &stats)
		if err == nil && stats[src].Delivered >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("source %s did not deliver %d events within 2 minutes (%v, %+v)", src, n, err, stats[src])
		}
		time.Sleep(100 * time.Millisecond)
	}
}
