package storetest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// EnvRequireTools makes what a test needs beyond Go (here: root, for a
// small file system of its own) a failure when missing, not a skip: CI
// sets it, running as root.
const EnvRequireTools = "ORDERFLOW_REQUIRE_TOOLS"

// SmallDisk mounts a tmpfs of the given size (as mount(8) takes it: 2m,
// 30m) on a fresh folder and returns it; it is unmounted when the test
// ends. A full disk is then a real one: writes there fail with ENOSPC as
// on any file system that ran out. It needs root; without it the test is
// skipped, or fails under EnvRequireTools.
func SmallDisk(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		why := "a file system of its own (mount -t tmpfs) needs root"
		if os.Getenv(EnvRequireTools) != "" {
			t.Fatalf("%s, and %s is set", why, EnvRequireTools)
		}
		t.Skip(why)
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs -o size=%s tmpfs %s: %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes a file into dir until its file system is full and returns
// a function that removes it, freeing the space.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for size := len(chunk); size > 0; {
		if _, err := f.Write(chunk[:size]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				f.Close()
				t.Fatalf("filling %s: %v", dir, err)
			}
			size /= 2 // the last blocks, to the last byte
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("freeing %s: %v", dir, err)
		}
	}
}
