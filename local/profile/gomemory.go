package profile

import (
	"fmt"
	"runtime/metrics"
)

// GoMemory is what the Go runtime of this process holds, from
// runtime/metrics, split so that a resident size that grows can be
// attributed: to Go objects, to memory the runtime keeps free, to
// goroutine stacks, or (RSS minus Resident) to memory outside the Go
// runtime altogether (a C-style allocator, such as the one the pure-Go
// SQLite library brings, maps its own pages).
type GoMemory struct {
	// Resident is everything the runtime has mapped and not returned to
	// the OS: /memory/classes/total minus /memory/classes/heap/released.
	Resident int64 `json:"goResidentBytes"`
	// HeapObjects is the live and not yet swept objects.
	HeapObjects int64 `json:"goHeapObjectsBytes"`
	// HeapLive is the heap the last garbage collection found reachable:
	// what the process holds, without the garbage of the cycle.
	HeapLive int64 `json:"goHeapLiveBytes"`
	// HeapFree is heap memory free for reuse and not released to the OS.
	HeapFree int64 `json:"goHeapFreeBytes"`
	// HeapUnused is heap memory reserved for objects but not in use
	// (fragmentation inside spans).
	HeapUnused int64 `json:"goHeapUnusedBytes"`
	// Stacks is goroutine stacks; Goroutines how many goroutines exist.
	Stacks     int64 `json:"goStacksBytes"`
	Goroutines int64 `json:"goroutines"`
	// Metadata is the runtime's own bookkeeping (spans, caches, GC data);
	// ProfilingBuckets the profiler's stack records; Other the rest
	// (trace buffers, debugging, the runtime's other internal memory).
	Metadata         int64 `json:"goMetadataBytes"`
	ProfilingBuckets int64 `json:"goProfilingBucketsBytes"`
	Other            int64 `json:"goOtherBytes"`
}

var goMemoryNames = []string{
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/sched/goroutines:goroutines",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/metadata/mcache/free:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mspan/free:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/profiling/buckets:bytes",
	"/memory/classes/other:bytes",
	"/memory/classes/os-stacks:bytes",
	"/gc/heap/live:bytes",
}

// ReadGoMemory reads GoMemory of this process.
func ReadGoMemory() (GoMemory, error) {
	samples := make([]metrics.Sample, len(goMemoryNames))
	for i, n := range goMemoryNames {
		samples[i].Name = n
	}
	metrics.Read(samples)
	v := make([]int64, len(samples))
	for i, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			return GoMemory{}, fmt.Errorf("runtime/metrics: %s not supported by this Go", s.Name)
		}
		v[i] = int64(s.Value.Uint64())
	}
	return GoMemory{Resident: v[0] - v[1], HeapObjects: v[2], HeapFree: v[3], Stacks: v[4] + v[14], Goroutines: v[5],
		HeapUnused: v[6], Metadata: v[7] + v[8] + v[9] + v[10] + v[11], ProfilingBuckets: v[12], Other: v[13], HeapLive: v[15]}, nil
}
