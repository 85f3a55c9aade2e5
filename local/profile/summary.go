package profile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Profiled is a process whose profiles are in the directory, and what runs
// in it (for README.txt).
type Profiled struct {
	Name  string
	Holds string
}

// TopFile is the text summary of a process's CPU profile.
func TopFile(dir, process string) string { return filepath.Join(dir, process+".top.txt") }

// topNodes is how many functions a .top.txt lists.
const topNodes = 40

// RemoveStale deletes what an earlier run left in dir under the names this
// run writes, so that a process that writes nothing this time (it was
// killed) is not represented by an old profile. Other files are left alone.
func RemoveStale(dir string, processes []string) error {
	var errs []error
	rm := func(path string) {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, p := range processes {
		for _, kind := range []string{KindCPU, KindHeap, KindAllocs, KindBlock, KindMutex, KindGoroutines} {
			rm(File(dir, p, kind))
		}
		rm(TopFile(dir, p))
	}
	rm(filepath.Join(dir, CPUFile))
	rm(filepath.Join(dir, ReadmeFile))
	return errors.Join(errs...)
}

// Summarize writes <process>.top.txt from each CPU profile with `go tool
// pprof -top` when the go command is on PATH (saying so on progress when
// it is not), then README.txt. A process without a CPU profile is named on
// progress and in README.txt.
func Summarize(ctx context.Context, dir string, processes []Profiled, progress io.Writer) error {
	goCmd, lookErr := exec.LookPath("go")
	if lookErr != nil {
		fmt.Fprintf(progress, "  no .top.txt summaries: the go command is not on PATH (%v); the profiles are there to open elsewhere\n", lookErr)
	}
	var missing []string
	var errs []error
	for _, p := range processes {
		cpu := File(dir, p.Name, KindCPU)
		if _, err := os.Stat(cpu); err != nil {
			missing = append(missing, p.Name)
			fmt.Fprintf(progress, "  %s: no CPU profile (%v): the process did not stop through its Stop hook\n", p.Name, err)
			continue
		}
		if lookErr != nil {
			continue
		}
		fmt.Fprintf(progress, "  %s: go tool pprof -top\n", p.Name)
		if err := writeTop(ctx, goCmd, cpu, TopFile(dir, p.Name)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		}
	}
	errs = append(errs, writeReadme(dir, processes, missing, lookErr == nil))
	return errors.Join(errs...)
}

func writeTop(ctx context.Context, goCmd, profile, out string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", topNodes), profile)
	// Outside any module, so no go.mod or go.work can ask for another
	// toolchain; the profiles carry their symbols.
	cmd.Dir = filepath.Dir(profile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go tool pprof -top %s: %w: %s", profile, err, strings.TrimSpace(stderr.String()))
	}
	return os.WriteFile(out, stdout.Bytes(), 0o644)
}

// ReadmeFile tells what each file of a profile directory is.
const ReadmeFile = "README.txt"

func writeReadme(dir string, processes []Profiled, missing []string, tops bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Profiles of one orderflow demo run, one set per process, each covering the\nprocess's whole life (start to stop), written %s.\n\n", time.Now().Format(time.RFC3339))
	b.WriteString("Processes:\n")
	for _, p := range processes {
		fmt.Fprintf(&b, "  %-10s %s\n", p.Name, p.Holds)
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, "No profiles from: %s (the process did not stop through its Stop hook, e.g. it was killed).\n", strings.Join(missing, ", "))
	}
	b.WriteString(`
Files, for each process P:
  P.cpu.pprof          CPU profile (100 samples a second of CPU time)
  P.heap.pprof         heap: memory live at the end (sample_index=inuse_space) and all allocations
  P.allocs.pprof       the same data, read by default as allocations over the whole life (alloc_space)
  P.block.pprof        time goroutines spent blocked (channels, select, sync waits); waits
                       shorter than 10us sampled in proportion
  P.mutex.pprof        contended mutexes, one contention in ten sampled
  P.goroutines.txt     every goroutine's stack when the process was asked to stop (text)
`)
	if tops {
		fmt.Fprintf(&b, "  P.top.txt            go tool pprof -top -nodecount=%d P.cpu.pprof\n", topNodes)
	} else {
		b.WriteString("  (no P.top.txt: the go command was not on PATH when the run ended)\n")
	}
	fmt.Fprintf(&b, `  %s             CPU time of each process from /proc/<pid>/stat (utime+stime), from the
                       first order placed to the last order ended, and per order ended

Open them:
  go tool pprof -top %[2]s/order.cpu.pprof                      functions by CPU, flat
  go tool pprof -top -cum %[2]s/order.cpu.pprof                 ... by cumulative CPU
  go tool pprof -http=127.0.0.1:0 %[2]s/order.cpu.pprof         graph and flame graph in a browser (loopback only)
  go tool pprof -sample_index=alloc_space -top %[2]s/order.allocs.pprof    bytes allocated, by function
  go tool pprof -sample_index=alloc_objects -top %[2]s/order.allocs.pprof  allocations, by function
  go tool pprof -top %[2]s/plane.block.pprof                    where goroutines waited
  go tool pprof -top %[2]s/plane.mutex.pprof                    where locks were contended
  go tool pprof -top %[2]s/*.cpu.pprof                          every process merged
`, CPUFile, dir)
	return os.WriteFile(filepath.Join(dir, ReadmeFile), []byte(b.String()), 0o644)
}
