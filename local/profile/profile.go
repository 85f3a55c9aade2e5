// Package profile measures what a run of the saga costs: the CPU time of
// each process from /proc (always, it costs two reads), and on request
// runtime/pprof profiles that each process writes of itself for its whole
// life, with text summaries made from them after the run.
package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
)

// EnvDir names the directory a function process writes its profiles to;
// its presence switches profiling on in that process (see fnserve).
const EnvDir = "ORDERFLOW_PROFILE_DIR"

// The block and mutex profiles cost on every blocking event and every
// contended unlock, so they are switched on only while a Session runs.
const (
	// blockProfileRate samples one blocking event per 10 us spent blocked:
	// every wait longer than that is recorded, the many short channel
	// hand-offs only in proportion, which keeps the overhead small at
	// saturation.
	blockProfileRate = 10_000
	// mutexProfileFraction records one contended unlock in ten.
	mutexProfileFraction = 10
)

// Kinds of profile a Session writes, in the order README.txt lists them.
const (
	KindCPU        = "cpu"
	KindHeap       = "heap"
	KindAllocs     = "allocs"
	KindBlock      = "block"
	KindMutex      = "mutex"
	KindGoroutines = "goroutines"
)

// File is where a process's profile of a kind goes in dir:
// <process>.<kind>.pprof, the goroutine dump <process>.goroutines.txt
// (readable text, not a pprof profile).
func File(dir, process, kind string) string {
	if kind == KindGoroutines {
		return filepath.Join(dir, process+".goroutines.txt")
	}
	return filepath.Join(dir, process+"."+kind+".pprof")
}

// Session profiles the running process from Start to Stop.
type Session struct {
	dir, process string
	cpu          *os.File

	mu                sync.Mutex
	goroutinesWritten bool
	stopped           bool
}

// Start begins the CPU profile and switches on block and mutex profiling
// for the process named process, whose profiles go to dir.
func Start(dir, process string) (*Session, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(File(dir, process, KindCPU))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile of %s: %w", process, err)
	}
	runtime.SetBlockProfileRate(blockProfileRate)
	runtime.SetMutexProfileFraction(mutexProfileFraction)
	return &Session{dir: dir, process: process, cpu: f}, nil
}

// WriteGoroutines dumps every goroutine's stack now; called when the
// process is asked to stop, it shows what was alive while it ran (Stop
// writes it only if this was not called, by then most are gone).
func (s *Session) WriteGoroutines() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.goroutinesWritten || s.stopped {
		return nil
	}
	s.goroutinesWritten = true
	return s.write(KindGoroutines, 2)
}

// Stop ends the CPU profile and writes the heap, allocation, block, mutex
// and (unless already written) goroutine profiles. Later calls do nothing.
func (s *Session) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	pprof.StopCPUProfile()
	errs := []error{s.cpu.Close()}
	// The heap profile is as of the last collection: collect now so it
	// shows what is live at the end.
	runtime.GC()
	for _, kind := range []string{KindHeap, KindAllocs, KindBlock, KindMutex} {
		errs = append(errs, s.write(kind, 0))
	}
	if !s.goroutinesWritten {
		errs = append(errs, s.write(KindGoroutines, 2))
	}
	runtime.SetBlockProfileRate(0)
	runtime.SetMutexProfileFraction(0)
	return errors.Join(errs...)
}

// write saves the runtime profile of kind (debug 0: gzipped pprof format;
// 2: goroutine stacks as text).
func (s *Session) write(kind string, debug int) error {
	name := kind
	if kind == KindGoroutines {
		name = "goroutine" // the runtime's name for it
	}
	prof := pprof.Lookup(name)
	if prof == nil {
		return fmt.Errorf("no runtime profile %q", name)
	}
	f, err := os.Create(File(s.dir, s.process, kind))
	if err != nil {
		return err
	}
	if err := prof.WriteTo(f, debug); err != nil {
		f.Close()
		return fmt.Errorf("%s profile of %s: %w", kind, s.process, err)
	}
	return f.Close()
}
