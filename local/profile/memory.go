package profile

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ResidentBytes reads a process's resident set size (VmRSS of
// /proc/<pid>/status): the memory it holds in RAM now, shared pages
// included.
func ResidentBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return ParseResident(bufio.NewScanner(f), pid)
}

// ParseResident finds VmRSS in the lines of a /proc/<pid>/status
// (proc(5): "VmRSS:\t  12345 kB"), in bytes. A kernel thread, or a
// process that is exiting, has no VmRSS line: that is an error naming pid.
func ParseResident(lines *bufio.Scanner, pid int) (int64, error) {
	for lines.Scan() {
		value, ok := strings.CutPrefix(lines.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("/proc/%d/status: VmRSS %q: want <number> kB", pid, strings.TrimSpace(value))
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, fmt.Errorf("/proc/%d/status: VmRSS %q: not a size", pid, strings.TrimSpace(value))
		}
		return kb * 1024, nil
	}
	if err := lines.Err(); err != nil {
		return 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS line (a kernel thread, or a process that is exiting)", pid)
}
