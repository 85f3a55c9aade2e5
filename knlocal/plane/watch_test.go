package plane_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
)

// A KafkaSource's consumers edited while the plane runs: its group gains
// the members at once, as the dispatcher on a cluster would; a change the
// plane cannot apply running is said to need a restart.
func TestConsumersEditedWhileRunning(t *testing.T) {
	src, err := filepath.Abs(filepath.Join("testdata", "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var mu syncWriter
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := plane.Up(ctx, plane.Options{
		Manifests: dir, FunctionsDir: filepath.Join(dir, "functions"), StateDir: t.TempDir(),
		Command: func(string) []string { return []string{self} }, Env: map[string]string{"greet/GREETING": "hello", "letters/AUDIT_URL": "http://127.0.0.1:9/audit"},
		WatchManifests: 100 * time.Millisecond, Progress: &mu,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if n := p.SourceStats()["greet"].Consumers; n != 1 {
		t.Fatalf("consumers %d at start, want 1", n)
	}
	topology := filepath.Join(dir, "topology.yaml")
	raw, err := os.ReadFile(topology)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(raw), "  initialOffset: earliest\n", "  initialOffset: earliest\n  consumers: 3\n", 1)
	if err := os.WriteFile(topology, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); p.SourceStats()["greet"].Consumers != 3; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("consumers %d after the edit, want 3; progress:\n%s", p.SourceStats()["greet"].Consumers, mu.String())
		}
	}
	if !strings.Contains(mu.String(), "source greet: consumers 1 -> 3 (manifests changed)") {
		t.Errorf("the change was not said:\n%s", mu.String())
	}
	// A change of another kind: reported, not applied.
	if err := os.WriteFile(topology, []byte(strings.Replace(edited, "retry: 2", "retry: 4", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(mu.String(), "manifests changed beyond consumers: restart to apply"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a retry change was not reported:\n%s", mu.String())
		}
	}
}

// syncWriter collects the plane's progress lines, written from its
// goroutines.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
