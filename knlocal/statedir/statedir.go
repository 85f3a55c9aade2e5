// Package statedir guards a state directory (databases, the broker's log,
// logs, endpoints.json) for the one process that runs in it: an exclusive
// lock, taken before anything there is deleted or written and held for
// the process's life, so a second plane on the same directory fails at
// once naming the first instead of deleting what it owns.
package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockFile is the lock's file in the directory. It stays there: removing
// it would let a second process lock a new file while the first holds
// the old one.
const LockFile = "lock"

// Lock is a process's exclusive hold on a state directory (flock(2) on
// LockFile). The kernel drops it when the last descriptor of it closes:
// at exit, however the process ends (kill -9 included), or later, when
// processes that inherited it (the functions, see File) have ended too.
type Lock struct {
	dir string
	f   *os.File
}

// HeldError says who holds a state directory.
type HeldError struct {
	Dir  string
	PID  int  // the process that took the lock (0: unknown)
	Gone bool // that process has ended: processes it started hold the lock now
}

func (e *HeldError) Error() string {
	switch {
	case e.PID == 0:
		return fmt.Sprintf("state directory %s is in use by another process; stop it or pass another --state-dir", e.Dir)
	case e.Gone:
		return fmt.Sprintf("state directory %s is still held by processes of pid %d, which has ended (its functions stopping); try again in a moment or pass another --state-dir", e.Dir, e.PID)
	}
	return fmt.Sprintf("state directory %s is in use by %s pid %d; stop it or pass another --state-dir", e.Dir, programOf(e.PID), e.PID)
}

// programOf names the program a process runs, as the kernel keeps it
// (/proc/<pid>/comm): "orderflow" for orderflow's CLI, whatever another
// topology's plane is built as. "process" when it cannot be read.
func programOf(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if name := strings.TrimSpace(string(b)); err == nil && name != "" {
		return name
	}
	return "process"
}

// Acquire locks dir (creating it) for this process, or fails at once with
// a *HeldError naming the holder.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state directory %s: locking %s: %w", dir, path, err)
		}
		return nil, held(dir, path)
	}
	// The holder's pid, for whoever finds the directory taken.
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	return &Lock{dir: dir, f: f}, nil
}

// AcquireWaiting is Acquire, except that a directory held only by the
// processes of a holder that has ended (functions stopping after their
// plane was killed) is waited for, up to wait: they are going.
func AcquireWaiting(dir string, wait time.Duration) (*Lock, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := Acquire(dir)
		var h *HeldError
		if err == nil || !errors.As(err, &h) || !h.Gone || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// held reads who holds the lock. The holder writes its pid right after
// locking, so an empty file is read again for a moment.
func held(dir, path string) error {
	for range 20 {
		b, _ := os.ReadFile(path)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			return &HeldError{Dir: dir, PID: pid, Gone: !alive(pid)}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &HeldError{Dir: dir}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Dir is the locked directory.
func (l *Lock) Dir() string { return l.dir }

// File is the lock's descriptor, for child processes to inherit
// (exec.Cmd.ExtraFiles): the directory then stays held until they have
// ended too, so no later process deletes what they still write.
func (l *Lock) File() *os.File { return l.f }

// Release lets the directory go (exit does it too).
func (l *Lock) Release() error { return l.f.Close() }

// Clear empties the locked directory, all but the lock and what keep
// names (entries directly in it).
func (l *Lock) Clear(keep ...string) error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == LockFile || slices.Contains(keep, e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(l.dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes the named entries of the locked directory.
func (l *Lock) Remove(names ...string) error {
	for _, n := range names {
		if n == LockFile || strings.Contains(n, string(filepath.Separator)) {
			return fmt.Errorf("statedir: will not remove %q", n)
		}
		if err := os.RemoveAll(filepath.Join(l.dir, n)); err != nil {
			return err
		}
	}
	return nil
}

// KeptLogs is how many earlier runs' log directories RotateLogs keeps.
const KeptLogs = 3

// RotateLogs moves the last run's logs (dir/logs) to logs.1, logs.1 to
// logs.2 and so on, dropping the one beyond KeptLogs: a start never
// deletes the only record of what the run before it did (a crash, say).
func (l *Lock) RotateLogs() error {
	name := func(i int) string {
		if i == 0 {
			return filepath.Join(l.dir, "logs")
		}
		return filepath.Join(l.dir, "logs."+strconv.Itoa(i))
	}
	if entries, err := os.ReadDir(name(0)); err != nil || len(entries) == 0 {
		return nil // nothing to keep
	}
	if err := os.RemoveAll(name(KeptLogs)); err != nil {
		return err
	}
	for i := KeptLogs - 1; i >= 0; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
