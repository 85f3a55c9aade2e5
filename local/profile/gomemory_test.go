package profile

import (
	"os"
	"runtime"
	"testing"
)

func TestReadGoMemoryAccountsForThisProcess(t *testing.T) {
	hold := make([]byte, 8<<20) // 8 MiB of live heap while we read
	for i := range hold {
		hold[i] = byte(i)
	}
	// The live heap is the one the last collection marked: 0 until a
	// first one has run, which in a short test binary may not have
	// happened yet (seen when the package ran this test first).
	runtime.GC()
	m, err := ReadGoMemory()
	if err != nil {
		t.Fatal(err)
	}
	if m.HeapObjects < int64(len(hold)) {
		t.Errorf("heap objects %d bytes, less than the %d held", m.HeapObjects, len(hold))
	}
	if m.Resident < m.HeapObjects+m.Stacks {
		t.Errorf("resident %d < objects %d + stacks %d", m.Resident, m.HeapObjects, m.Stacks)
	}
	if m.HeapLive <= 0 || m.HeapLive > m.HeapObjects+m.HeapFree+m.HeapUnused {
		t.Errorf("live heap %d outside the heap (%d objects, %d free, %d unused)", m.HeapLive, m.HeapObjects, m.HeapFree, m.HeapUnused)
	}
	if m.Goroutines < 1 {
		t.Errorf("goroutines %d", m.Goroutines)
	}
	rss, err := ResidentBytes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < int64(len(hold)) {
		t.Errorf("VmRSS %d below the %d bytes written", rss, len(hold))
	}
	runtime.KeepAlive(hold)
}
