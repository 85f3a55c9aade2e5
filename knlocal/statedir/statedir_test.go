package statedir

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestASecondHolderIsRefusedNamingTheFirst(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	var h *HeldError
	if !errors.As(err, &h) || h.PID != os.Getpid() || h.Gone || h.Dir != dir {
		t.Fatalf("second Acquire: %v (%+v), want held by pid %d", err, h, os.Getpid())
	}
	// The holder is named by its program, as the kernel keeps it: this
	// test binary's name, cut to 15 bytes.
	prog := filepath.Base(os.Args[0])
	prog = prog[:min(len(prog), 15)]
	if want := "state directory " + dir + " is in use by " + prog + " pid " + strconv.Itoa(os.Getpid()); !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("%q", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
}

// A child that inherited the lock holds it after its parent let go: a
// killed plane's functions, still stopping, keep the directory taken.
func TestChildrenHoldTheLockAfterTheHolderEnds(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "60")
	child.ExtraFiles = []*os.File{l.File()}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	l.Release()
	// The holder is gone: a process that has exited wrote the pid.
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, LockFile), []byte(strconv.Itoa(done.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	var h *HeldError
	if !errors.As(err, &h) || !h.Gone || h.PID != done.Process.Pid {
		t.Fatalf("Acquire while a child holds it: %v, want held, holder gone", err)
	}
	child.Process.Kill()
	child.Wait()
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("after the child ended: %v", err)
	}
	l2.Release()
}

func TestRotateLogsKeepsTheLastRuns(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	run := func(n int) {
		if err := l.RotateLogs(); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
		os.WriteFile(filepath.Join(dir, "logs", "plane.log"), []byte(strconv.Itoa(n)), 0o644)
	}
	for n := 1; n <= 5; n++ {
		run(n)
	}
	for i, want := range map[string]string{"logs": "5", "logs.1": "4", "logs.2": "3", "logs.3": "2"} {
		b, err := os.ReadFile(filepath.Join(dir, i, "plane.log"))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want run %s", i, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "logs.4")); !os.IsNotExist(err) {
		t.Errorf("logs.4 kept: %v", err)
	}
	// An empty logs directory is nothing to keep.
	os.RemoveAll(filepath.Join(dir, "logs"))
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	if err := l.RotateLogs(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "logs.1", "plane.log")); string(b) != "4" {
		t.Errorf("an empty logs directory pushed the others down")
	}
}

func TestClearAndRemoveSpareTheLock(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for _, n := range []string{"db", "kafka", "logs", "endpoints.json"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	if err := l.Remove(LockFile); err == nil {
		t.Error("Remove(lock) accepted")
	}
	if err := l.Remove("../x"); err == nil {
		t.Error("Remove(../x) accepted")
	}
	if err := l.Remove("db"); err != nil {
		t.Fatal(err)
	}
	if err := l.Clear("logs"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if len(left) != 2 || left[0] != LockFile || left[1] != "logs" {
		t.Fatalf("left %v, want the lock and logs", left)
	}
	if _, err := Acquire(dir); err == nil {
		t.Fatal("the lock was lost by Clear")
	}
}
