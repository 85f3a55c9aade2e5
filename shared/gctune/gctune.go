// Package gctune sets Go's garbage collector for an orderflow process (a
// function, the plane) before it takes work.
//
// Go's default, GOGC=100, starts a collection each time the heap has grown
// by as much as is live. An orderflow process keeps little live (a function
// 5-10 MB: its pools, caches and in-flight deliveries) and allocates a lot
// per delivery (a CloudEvent, its JSON, a transaction's rows), so at 100
// it collects many times a second under load: the garbage collector was
// 7-15 % of each process's CPU in `demo --profile`. At 400 the heap may
// grow to five times the live one before a collection, which is still tens
// of megabytes, and make demo ends about 15 % more orders a second for
// 14 % less CPU (docs/performance.md, 2026-12-06).
//
// A larger heap must not walk a container into its memory limit: where the
// process runs under a cgroup with memory.max (a Kubernetes limit), the
// runtime gets a soft memory limit of 90 % of it, and collects harder as
// the heap nears it instead. GOGC and GOMEMLIMIT set in the environment win
// over both, as Go documents them.
package gctune

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Percent is the GOGC an orderflow process runs with unless GOGC is set.
const Percent = 400

// CgroupMemoryMax is where cgroup v2 puts a container's memory limit.
const CgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// LimitShare of the cgroup's memory.max becomes the soft memory limit:
// the rest is for what the soft limit does not see (the binary's mapped
// text, memory the kernel charges to the cgroup for the process's files).
const LimitShare = 0.9

// Settings are what Apply decided: GCPercent -1 and MemoryLimit 0 mean
// left as the runtime had them (the environment's, or Go's defaults).
type Settings struct {
	GCPercent   int
	MemoryLimit int64
	// Why says where each came from, for the process's first log line.
	Why string
}

// Plan decides from the environment's GOGC and GOMEMLIMIT and the
// cgroup's memory.max (its contents, or the error reading it): pure, so
// it is table-tested; Apply carries it out. A GOGC that is neither a
// number nor "off" is an error: Go's runtime would quietly use 100 for
// it, and the process would run with neither what was asked nor our
// default. (A malformed GOMEMLIMIT stops the runtime before main, naming it.)
func Plan(gogc, gomemlimit string, cgroupMax []byte, cgroupErr error) (Settings, error) {
	s := Settings{GCPercent: -1}
	var why []string
	switch {
	case gogc == "":
		s.GCPercent = Percent
		why = append(why, fmt.Sprintf("GOGC=%d (orderflow's default)", Percent))
	case gogc == "off" || validPercent(gogc):
		why = append(why, "GOGC="+gogc+" (environment)")
	default:
		return Settings{}, fmt.Errorf("GOGC=%q: want a percentage such as %d, or off (Go's runtime would use 100 in its place without a word)", gogc, Percent)
	}
	switch {
	case gomemlimit != "":
		why = append(why, "GOMEMLIMIT="+gomemlimit+" (environment)")
	case cgroupErr != nil:
		why = append(why, "no memory limit (no cgroup memory.max)")
	default:
		v := strings.TrimSpace(string(cgroupMax))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			// "max": the cgroup has no limit.
			why = append(why, "no memory limit (cgroup memory.max "+strconv.Quote(v)+")")
			break
		}
		s.MemoryLimit = int64(float64(n) * LimitShare)
		why = append(why, fmt.Sprintf("memory limit %d MiB (%.0f %% of the cgroup's memory.max, %d MiB)", s.MemoryLimit>>20, LimitShare*100, n>>20))
	}
	s.Why = strings.Join(why, ", ")
	return s, nil
}

// validPercent is what Go's runtime takes for GOGC besides "off": a
// decimal integer that fits 32 bits (negative turns collection off).
func validPercent(v string) bool {
	_, err := strconv.ParseInt(v, 10, 32)
	return err == nil
}

// Apply plans from this process's environment and cgroup and sets the
// runtime accordingly; it returns what it set, or Plan's error with the
// runtime left alone.
func Apply() (Settings, error) {
	raw, readErr := os.ReadFile(CgroupMemoryMax)
	s, err := Plan(os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"), raw, readErr)
	if err != nil {
		return s, err
	}
	if s.GCPercent >= 0 {
		debug.SetGCPercent(s.GCPercent)
	}
	if s.MemoryLimit > 0 {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	return s, nil
}
