package profile

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Proc is one process whose CPU time a Meter measures.
type Proc struct {
	Name string
	PID  int
}

// Stat is what the CPU accounting needs from /proc/<pid>/stat.
type Stat struct {
	PID  int
	Comm string
	PPID int
	// UserTicks and SystemTicks are utime and stime: CPU time of all the
	// process's threads, in clock ticks (see ClockTicks).
	UserTicks, SystemTicks uint64
	// StartTime is when the process started, in clock ticks after boot
	// (0 when the line stops short of it): with the pid, it tells one
	// process from a later one that reused its pid, where the command
	// name cannot (a kernel worker renames itself for each work item).
	StartTime uint64
	// Part is what the process, or the thread, is within its command (a
	// PostgreSQL process's role, a JVM thread's pool: parts.go); empty
	// for the commands not split.
	Part string
}

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (Stat, error) { return readStatFile(fmt.Sprintf("/proc/%d/stat", pid)) }

// readStatFile reads a stat file of proc(5): a process's, or a thread's
// (/proc/<pid>/task/<tid>/stat), which has the same fields.
func readStatFile(path string) (Stat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(string(b))
}

// ParseStat reads a /proc/<pid>/stat line (proc(5)). The command name sits
// in parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func ParseStat(line string) (Stat, error) {
	open := strings.IndexByte(line, '(')
	closing := strings.LastIndexByte(line, ')')
	if open < 0 || closing < open {
		return Stat{}, fmt.Errorf("/proc stat %q: no (comm)", abbreviate(line))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return Stat{}, fmt.Errorf("/proc stat %q: pid: %w", abbreviate(line), err)
	}
	// After the comm: field 3 (state) is rest[0], so field n is rest[n-3].
	rest := strings.Fields(line[closing+1:])
	const ppidField, utimeField, stimeField = 4, 14, 15
	if len(rest) <= stimeField-3 {
		return Stat{}, fmt.Errorf("/proc stat %q: %d fields after the command, want at least %d", abbreviate(line), len(rest), stimeField-2)
	}
	s := Stat{PID: pid, Comm: line[open+1 : closing]}
	if s.PPID, err = strconv.Atoi(rest[ppidField-3]); err != nil {
		return Stat{}, fmt.Errorf("/proc stat of pid %d: ppid: %w", pid, err)
	}
	if s.UserTicks, err = strconv.ParseUint(rest[utimeField-3], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("/proc stat of pid %d: utime: %w", pid, err)
	}
	if s.SystemTicks, err = strconv.ParseUint(rest[stimeField-3], 10, 64); err != nil {
		return Stat{}, fmt.Errorf("/proc stat of pid %d: stime: %w", pid, err)
	}
	const startField = 22
	if len(rest) > startField-3 {
		if s.StartTime, err = strconv.ParseUint(rest[startField-3], 10, 64); err != nil {
			return Stat{}, fmt.Errorf("/proc stat of pid %d: starttime: %w", pid, err)
		}
	}
	return s, nil
}

// sameProcess tells whether two readings of one pid are of one process:
// by its start time when both readings have it, else by its command.
func sameProcess(a, b Stat) bool {
	if a.StartTime != 0 && b.StartTime != 0 {
		return a.StartTime == b.StartTime
	}
	return a.Comm == b.Comm
}

func abbreviate(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// defaultClockTicks is USER_HZ, what sysconf(_SC_CLK_TCK) answers on every
// Linux architecture Go runs on; used only when the auxiliary vector
// cannot be read.
const defaultClockTicks = 100

var clockTicks = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return defaultClockTicks
	}
	if hz, ok := ParseAuxvClockTicks(b, strconv.IntSize/8); ok {
		return hz
	}
	return defaultClockTicks
})

// ClockTicks is how many clock ticks make a second in /proc/<pid>/stat:
// the AT_CLKTCK entry the kernel hands every process in its auxiliary
// vector (where glibc's sysconf(_SC_CLK_TCK) reads it; Go has no sysconf
// without cgo), or 100 if that cannot be read.
func ClockTicks() int { return clockTicks() }

// ParseAuxvClockTicks finds AT_CLKTCK in the raw auxiliary vector
// (/proc/<pid>/auxv: pairs of native-endian words of wordSize bytes, ended
// by AT_NULL).
func ParseAuxvClockTicks(auxv []byte, wordSize int) (int, bool) {
	const atNull, atClockTicks = 0, 17
	word := func(b []byte) uint64 {
		if wordSize == 4 {
			return uint64(binary.NativeEndian.Uint32(b))
		}
		return binary.NativeEndian.Uint64(b)
	}
	for len(auxv) >= 2*wordSize {
		key, value := word(auxv[:wordSize]), word(auxv[wordSize:2*wordSize])
		auxv = auxv[2*wordSize:]
		switch key {
		case atNull:
			return 0, false
		case atClockTicks:
			if value == 0 {
				return 0, false
			}
			return int(value), true
		}
	}
	return 0, false
}

// Children lists the processes whose parent is ppid, from /proc (a process
// that ends while it is read is left out).
func Children(ppid int) ([]Stat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Stat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := ReadStat(pid)
		if err != nil || s.PPID != ppid {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// Cmdline is a process's argument vector, from /proc/<pid>/cmdline.
func Cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"), nil
}

// Meter measures the CPU time each of a set of processes spends between
// Start and Stop, from /proc: two reads per process, nothing while the
// window runs, so it is always on.
type Meter struct {
	procs       func() []Proc
	read        func(pid int) (Stat, error)
	machine     func() (MachineTicks, error)
	from, until sample
}

type sample struct {
	at      time.Time
	procs   map[string]procTicks
	machine MachineTicks
	mErr    error
	// every process on the machine by pid, for the machine's CPU by
	// command (postgres, java, ...), and every JVM's threads by thread
	// id, for its CPU by thread pool (parts.go).
	all, threads map[int]Stat
}

// MachineTicks is the first line of /proc/stat: the CPU time of every core
// since boot, in clock ticks, busy and idle.
type MachineTicks struct {
	Busy, Idle uint64
	Cores      int
}

// ReadMachine reads /proc/stat.
func ReadMachine() (MachineTicks, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineTicks{}, err
	}
	return ParseProcStat(string(b))
}

// ParseProcStat reads the aggregate "cpu" line of /proc/stat (proc(5)):
// user nice system idle iowait irq softirq steal [guest guest_nice]. Idle
// is idle plus iowait; busy is the rest but guest time, which the kernel
// already counts in user and nice. Cores counts the "cpuN" lines.
func ParseProcStat(text string) (MachineTicks, error) {
	var m MachineTicks
	found := false
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			m.Cores++
			continue
		}
		if len(f) < 9 {
			return MachineTicks{}, fmt.Errorf("/proc/stat: the cpu line has %d fields, want at least 8 counters", len(f)-1)
		}
		for i, v := range f[1:9] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return MachineTicks{}, fmt.Errorf("/proc/stat: cpu counter %d %q: %w", i+1, v, err)
			}
			if i == 3 || i == 4 { // idle, iowait
				m.Idle += n
			} else {
				m.Busy += n
			}
		}
		found = true
	}
	if !found {
		return MachineTicks{}, fmt.Errorf("/proc/stat: no aggregate cpu line")
	}
	return m, nil
}

type procTicks struct {
	pid   int
	ticks uint64
	err   error
}

// NewMeter measures the processes procs lists; it is asked again at Stop,
// so a process that was replaced in between (a restarted function) is
// seen as such.
func NewMeter(procs func() []Proc) *Meter {
	return &Meter{procs: procs, read: ReadStat, machine: ReadMachine}
}

// Start opens the window.
func (m *Meter) Start() { m.from = m.sample() }

// Stop closes the window.
func (m *Meter) Stop() { m.until = m.sample() }

func (m *Meter) sample() sample {
	s := sample{at: time.Now(), procs: map[string]procTicks{}}
	if m.machine != nil {
		s.machine, s.mErr = m.machine()
		s.all, s.threads = allProcesses()
	}
	for _, p := range m.procs() {
		st, err := m.read(p.PID)
		s.procs[p.Name] = procTicks{pid: p.PID, ticks: st.UserTicks + st.SystemTicks, err: err}
	}
	return s
}

// CPUReport is the CPU time of each process over the window, per order
// ended in it.
type CPUReport struct {
	WindowSeconds       float64      `json:"windowSeconds"`
	OrdersEnded         int          `json:"ordersEnded"`
	ClockTicksPerSecond int          `json:"clockTicksPerSecond"`
	Processes           []ProcessCPU `json:"processes"`
	CPUSeconds          float64      `json:"cpuSeconds"`
	MsPerOrder          float64      `json:"cpuMillisPerOrderEnded"`
	// CoresBusy is CPUSeconds over WindowSeconds: how many cores the
	// processes kept busy on average.
	CoresBusy float64 `json:"coresBusy"`
	// Machine is the whole machine's CPU over the window (/proc/stat):
	// every process, a Kafka and a PostgreSQL beside the topology
	// included; nil when /proc/stat could not be read.
	Machine *MachineCPU `json:"machine,omitempty"`
}

// MachineCPU is the busy time of every core over the window.
type MachineCPU struct {
	CPUSeconds float64 `json:"cpuSeconds"`
	MsPerOrder float64 `json:"cpuMillisPerOrderEnded"`
	CoresBusy  float64 `json:"coresBusy"`
	Cores      int     `json:"cores"`
	// ByCommand is the CPU of the processes alive at the window's end,
	// added up by command name (every postgres backend as "postgres", a
	// Kafka broker as "java"), busiest first. A process that ended inside
	// the window is missing, so the commands may add up to less than the
	// machine: the kernel's own work, interrupts and such processes are
	// the difference.
	ByCommand []CommandCPU `json:"byCommand,omitempty"`
	// Parts splits a JVM's CPU by thread pool ("java": Kafka's request
	// threads, its JIT compilers, its garbage collector) and PostgreSQL's
	// by process role ("postgres": backends, the WAL writer, ...); the
	// threads and processes alive at the window's end, as ByCommand.
	Parts map[string][]PartCPU `json:"parts,omitempty"`
}

// CommandCPU is the CPU of the processes of one command name.
type CommandCPU struct {
	Command    string  `json:"command"`
	Processes  int     `json:"processes"`
	CPUSeconds float64 `json:"cpuSeconds"`
	MsPerOrder float64 `json:"cpuMillisPerOrderEnded"`
}

// allProcesses reads every /proc/<pid>/stat (those that vanish while read
// are left out), a PostgreSQL process's role and a JVM's threads.
func allProcesses() (procs, threads map[int]Stat) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, nil
	}
	procs, threads = map[int]Stat{}, map[int]Stat{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := ReadStat(pid)
		if err != nil {
			continue
		}
		switch st.Comm {
		case postgresCommand:
			st.Part = postgresRole(readCmdline(pid))
		case jvmCommand:
			jvmThreads(pid, threads)
		}
		procs[pid] = st
	}
	return procs, threads
}

// byCommand adds up each command's CPU between two readings of every
// process: a process seen at both (sameProcess) by its growth, one new at
// the end by its whole life, under its command name at the end.
func byCommand(from, until map[int]Stat, hz, orders int) []CommandCPU {
	sum := tally{}
	for pid, end := range until {
		sum.add(end.Comm, growth(from, pid, end), hz)
	}
	var out []CommandCPU
	for _, t := range sum.busiest() {
		out = append(out, CommandCPU{Command: t.name, Processes: t.count, CPUSeconds: t.seconds, MsPerOrder: perOrder(t.seconds, orders)})
	}
	return out
}

// ProcessCPU is one process's share.
type ProcessCPU struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpuSeconds"`
	MsPerOrder float64 `json:"cpuMillisPerOrderEnded"`
	Share      float64 `json:"share"`
	// Note says why the figure is short or missing (a process replaced
	// during the window, /proc unreadable); empty when it is whole.
	Note string `json:"note,omitempty"`
}

// Report computes the figures once Stop has been called; ended is the
// number of orders that reached their outcome in the window.
func (m *Meter) Report(ended int) CPUReport {
	hz := ClockTicks()
	r := CPUReport{WindowSeconds: m.until.at.Sub(m.from.at).Seconds(), OrdersEnded: ended, ClockTicksPerSecond: hz}
	names := make([]string, 0, len(m.until.procs))
	for n := range m.until.procs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		end := m.until.procs[n]
		p := ProcessCPU{Name: n, PID: end.pid}
		begin, seen := m.from.procs[n]
		var ticks uint64
		switch {
		case end.err != nil:
			p.Note = "not measured: " + end.err.Error()
		case !seen || begin.err != nil:
			// Without a first reading the process's whole life counts:
			// an upper bound for this window.
			ticks = end.ticks
			p.Note = "no reading at the start: counted from the process's start"
		case begin.pid != end.pid:
			// The process measured at the start is gone with its CPU
			// time; only its replacement's is known.
			ticks = end.ticks
			p.Note = fmt.Sprintf("replaced during the window (pid %d -> %d): only the new process counted, a lower bound", begin.pid, end.pid)
		default:
			ticks = end.ticks - min(begin.ticks, end.ticks)
		}
		p.CPUSeconds = float64(ticks) / float64(hz)
		r.CPUSeconds += p.CPUSeconds
		r.Processes = append(r.Processes, p)
	}
	for i := range r.Processes {
		p := &r.Processes[i]
		p.MsPerOrder = perOrder(p.CPUSeconds, ended)
		if r.CPUSeconds > 0 {
			p.Share = p.CPUSeconds / r.CPUSeconds
		}
	}
	r.MsPerOrder = perOrder(r.CPUSeconds, ended)
	if r.WindowSeconds > 0 {
		r.CoresBusy = r.CPUSeconds / r.WindowSeconds
	}
	if m.from.mErr == nil && m.until.mErr == nil && m.until.machine.Busy >= m.from.machine.Busy && m.until.machine.Busy > 0 {
		secs := float64(m.until.machine.Busy-m.from.machine.Busy) / float64(hz)
		mc := &MachineCPU{CPUSeconds: secs, MsPerOrder: perOrder(secs, ended), Cores: m.until.machine.Cores,
			ByCommand: byCommand(m.from.all, m.until.all, hz, ended),
			Parts:     partsByCommand(m.from.all, m.until.all, m.from.threads, m.until.threads, hz, ended)}
		if r.WindowSeconds > 0 {
			mc.CoresBusy = secs / r.WindowSeconds
		}
		r.Machine = mc
	}
	return r
}

func perOrder(seconds float64, orders int) float64 {
	if orders == 0 {
		return 0
	}
	return seconds * 1000 / float64(orders)
}

// Summary is what every demo prints: the topology's processes, then the
// whole machine.
func (r CPUReport) Summary() string {
	s := fmt.Sprintf("CPU: %.1f ms per order ended, all processes (%.2f CPU-s for %d orders in %.1f s: %.2f cores busy)",
		r.MsPerOrder, r.CPUSeconds, r.OrdersEnded, r.WindowSeconds, r.CoresBusy)
	if m := r.Machine; m != nil {
		s += fmt.Sprintf("\nmachine CPU: %.1f ms per order (every process on the machine, /proc/stat: %.2f CPU-s, %.2f of %d cores busy)",
			m.MsPerOrder, m.CPUSeconds, m.CoresBusy, m.Cores)
		var parts []string
		for i, c := range m.ByCommand {
			if i == 6 {
				break
			}
			parts = append(parts, fmt.Sprintf("%s %.1f", c.Command, c.MsPerOrder))
		}
		if len(parts) > 0 {
			s += "\n  by command, ms per order: " + strings.Join(parts, ", ")
		}
		for _, split := range []struct{ command, by string }{{jvmCommand, "thread"}, {postgresCommand, "process"}} {
			var parts []string
			for i, p := range m.Parts[split.command] {
				if i == 6 {
					break
				}
				parts = append(parts, fmt.Sprintf("%s %.1f", p.Part, p.MsPerOrder))
			}
			if len(parts) > 0 {
				s += fmt.Sprintf("\n  %s by %s, ms per order: %s", split.command, split.by, strings.Join(parts, ", "))
			}
		}
	}
	return s
}

// PrintTable writes the per-process table, busiest first, and the total
// over all processes.
func (r CPUReport) PrintTable(w io.Writer) {
	rows := append([]ProcessCPU(nil), r.Processes...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].CPUSeconds > rows[j].CPUSeconds })
	fmt.Fprintf(w, "CPU time per process, from the first placement to the last order ended (%.1f s, %d orders ended):\n", r.WindowSeconds, r.OrdersEnded)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "process\tpid\tCPU s\tCPU ms/order\tshare\t")
	for _, p := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.1f%%\t\n", p.Name, p.PID, p.CPUSeconds, p.MsPerOrder, 100*p.Share)
	}
	fmt.Fprintf(tw, "all processes\t\t%.2f\t%.2f\t100.0%%\t\n", r.CPUSeconds, r.MsPerOrder)
	_ = tw.Flush()
	for _, p := range rows {
		if p.Note != "" {
			fmt.Fprintf(w, "  %s: %s\n", p.Name, p.Note)
		}
	}
}

// WriteJSON writes the report as DIR/cpu.json.
func (r CPUReport) WriteJSON(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, CPUFile), b, 0o644)
}

// CPUFile is the report's name in a profile directory.
const CPUFile = "cpu.json"
