package runner

import (
	"os"
	"path/filepath"
	"testing"
)

// The port Start picks is the process's, kept by Restart, and never
// written into the caller's map: a second Start with the same map (a
// retry after the port was taken before the function bound it, another
// replica) picks a port afresh.
func TestStartPicksAPortOfItsOwnEachTime(t *testing.T) {
	local := map[string]string{"GREETING": "hi"}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "func.yaml"), []byte("name: sleeper\nruntime: go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "sleeper", Dir: dir, Local: local, Command: []string{"sleep", "30"}, LogDir: t.TempDir()}
	first, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Kill()
	if _, ok := local["LISTEN_ADDRESS"]; ok || len(local) != 1 {
		t.Fatalf("Start wrote into the caller's map: %v", local)
	}
	second, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Kill()
	if first.URL == second.URL {
		t.Fatalf("two starts from one spec share %s", first.URL)
	}
	again, err := first.Restart()
	if err != nil {
		t.Fatal(err)
	}
	defer again.Kill()
	if again.URL != first.URL {
		t.Fatalf("a restart moved from %s to %s; it keeps its address", first.URL, again.URL)
	}
}
