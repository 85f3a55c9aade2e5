package profile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSessionWritesEveryProfileAndSummarizeTopsThem(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(dir, "order")
	if err != nil {
		t.Fatal(err)
	}
	// Something for the CPU profile to see.
	sum := sha256.Sum256(nil)
	for i := 0; i < 200_000; i++ {
		sum = sha256.Sum256(sum[:])
	}
	if err := s.WriteGoroutines(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for _, kind := range []string{KindCPU, KindHeap, KindAllocs, KindBlock, KindMutex, KindGoroutines} {
		info, err := os.Stat(File(dir, "order", kind))
		if err != nil || info.Size() == 0 {
			t.Fatalf("%s profile: %v (size %d)", kind, err, sizeOf(info))
		}
	}
	dump, _ := os.ReadFile(File(dir, "order", KindGoroutines))
	if !strings.Contains(string(dump), "goroutine ") {
		t.Fatalf("goroutine dump is not text stacks:\n%.300s", dump)
	}

	var progress bytes.Buffer
	procs := []Profiled{{Name: "order", Holds: "the order function"}, {Name: "payment", Holds: "the payment function"}}
	if err := Summarize(context.Background(), dir, procs, &progress); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "payment: no CPU profile") {
		t.Fatalf("progress does not name the process without a profile:\n%s", progress.String())
	}
	readme, err := os.ReadFile(filepath.Join(dir, ReadmeFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"order", "the order function", "No profiles from: payment", "order.cpu.pprof", "127.0.0.1:0"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.txt lacks %q:\n%s", want, readme)
		}
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH: no top to check")
	}
	top, err := os.ReadFile(TopFile(dir, "order"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(top), "flat%") {
		t.Fatalf("order.top.txt is not a pprof top:\n%s", top)
	}
}

func TestRemoveStaleKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	mine := []string{File(dir, "plane", KindCPU), File(dir, "order", KindGoroutines), TopFile(dir, "order"),
		filepath.Join(dir, CPUFile), filepath.Join(dir, ReadmeFile)}
	other := filepath.Join(dir, "notes.txt")
	for _, p := range append(mine, other, File(dir, "someone-else", KindCPU)) {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveStale(dir, []string{"plane", "order"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range mine {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	for _, p := range []string{other, File(dir, "someone-else", KindCPU)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

func sizeOf(info os.FileInfo) int64 {
	if info == nil {
		return -1
	}
	return info.Size()
}
