package profile

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// Fields 3.. of a real line: state ppid pgrp session tty tpgid flags
	// minflt cminflt majflt cmajflt utime stime cutime cstime ...
	const tail = " S 4120 4120 23504 0 -1 4194304 99 0 0 0 1234 567 89 10 20 0 1 0 318192"
	tests := []struct {
		name    string
		line    string
		want    Stat
		wantErr string
	}{
		{name: "plain", line: "4121 (orderflow)" + tail + "\n",
			want: Stat{PID: 4121, Comm: "orderflow", PPID: 4120, UserTicks: 1234, SystemTicks: 567, StartTime: 318192}},
		{name: "command with spaces and parentheses", line: "77 (a) b (c))" + tail,
			want: Stat{PID: 77, Comm: "a) b (c)", PPID: 4120, UserTicks: 1234, SystemTicks: 567, StartTime: 318192}},
		{name: "empty command", line: "5 ()" + tail,
			want: Stat{PID: 5, PPID: 4120, UserTicks: 1234, SystemTicks: 567, StartTime: 318192}},
		{name: "no command", line: "5 S 1 2 3", wantErr: "no (comm)"},
		{name: "parentheses reversed", line: "5 )x( S 1", wantErr: "no (comm)"},
		{name: "pid not a number", line: "x (sh)" + tail, wantErr: "pid"},
		{name: "cut before stime", line: "5 (sh) S 1 1 1 0 -1 0 0 0 0 0 12", wantErr: "fields after the command"},
		{name: "utime not a number", line: "5 (sh) S 1 1 1 0 -1 0 0 0 0 0 x 5", wantErr: "utime"},
		{name: "stime negative", line: "5 (sh) S 1 1 1 0 -1 0 0 0 0 0 1 -5", wantErr: "stime"},
		{name: "cut before starttime", line: "5 (sh) S 1 1 1 0 -1 0 0 0 0 0 1 5",
			want: Stat{PID: 5, Comm: "sh", PPID: 1, UserTicks: 1, SystemTicks: 5}},
		{name: "starttime not a number", line: "5 (sh) S 1 1 1 0 -1 0 0 0 0 0 1 5 0 0 20 0 1 0 x", wantErr: "starttime"},
		{name: "ppid not a number", line: "5 (sh) S p 1 1 0 -1 0 0 0 0 0 1 5", wantErr: "ppid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStat(tc.line)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseStat(%q) error %v, want one containing %q", tc.line, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("ParseStat(%q) = %+v, want %+v", tc.line, got, tc.want)
			}
		})
	}
}

func auxv(wordSize int, pairs ...uint64) []byte {
	b := make([]byte, 0, len(pairs)*wordSize)
	for _, v := range pairs {
		if wordSize == 4 {
			b = binary.NativeEndian.AppendUint32(b, uint32(v))
		} else {
			b = binary.NativeEndian.AppendUint64(b, v)
		}
	}
	return b
}

func TestParseAuxvClockTicks(t *testing.T) {
	const atPageSize, atClockTicks = 6, 17
	tests := []struct {
		name     string
		auxv     []byte
		wordSize int
		want     int
		ok       bool
	}{
		{"64-bit", auxv(8, atPageSize, 4096, atClockTicks, 100, 0, 0), 8, 100, true},
		{"32-bit", auxv(4, atPageSize, 4096, atClockTicks, 250, 0, 0), 4, 250, true},
		{"absent", auxv(8, atPageSize, 4096, 0, 0), 8, 0, false},
		{"after AT_NULL", auxv(8, 0, 0, atClockTicks, 100), 8, 0, false},
		{"zero", auxv(8, atClockTicks, 0, 0, 0), 8, 0, false},
		{"truncated pair", auxv(8, atPageSize, 4096, atClockTicks)[:20], 8, 0, false},
		{"empty", nil, 8, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseAuxvClockTicks(tc.auxv, tc.wordSize)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestClockTicksOfThisMachine(t *testing.T) {
	if hz := ClockTicks(); hz <= 0 || hz > 10000 {
		t.Fatalf("ClockTicks() = %d", hz)
	}
}

func TestReadStatAndChildrenOfThisProcess(t *testing.T) {
	self, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if self.PID != os.Getpid() || self.PPID != os.Getppid() {
		t.Fatalf("ReadStat(self) = %+v; pid %d ppid %d", self, os.Getpid(), os.Getppid())
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skipf("no sleep to start: %v", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	children, err := Children(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range children {
		found = found || c.PID == child.Process.Pid
	}
	if !found {
		t.Fatalf("Children(%d) = %+v, without the sleep (pid %d)", os.Getpid(), children, child.Process.Pid)
	}
	args, err := Cmdline(child.Process.Pid)
	if err != nil || strings.Join(args, " ") != "sleep 30" {
		t.Fatalf("Cmdline = %q, %v", args, err)
	}
}

// fakeProcs is a /proc whose ticks and pids the test sets between readings.
type fakeProcs struct {
	pids  map[string]int
	ticks map[int]uint64
	gone  map[int]bool
}

func (f *fakeProcs) list() []Proc {
	var out []Proc
	for n, pid := range f.pids {
		out = append(out, Proc{Name: n, PID: pid})
	}
	return out
}

func (f *fakeProcs) read(pid int) (Stat, error) {
	if f.gone[pid] {
		return Stat{}, errors.New("no such process")
	}
	// Split between user and system to check both count.
	return Stat{PID: pid, UserTicks: f.ticks[pid] / 2, SystemTicks: f.ticks[pid] - f.ticks[pid]/2}, nil
}

func TestMeterReport(t *testing.T) {
	hz := float64(ClockTicks())
	f := &fakeProcs{pids: map[string]int{"plane": 10, "order": 11, "payment": 12},
		ticks: map[int]uint64{10: 500, 11: 100, 12: 7}, gone: map[int]bool{}}
	m := &Meter{procs: f.list, read: f.read}
	m.Start()
	time.Sleep(10 * time.Millisecond)
	// plane spends 300 ticks, order 100; payment crashes and is replaced
	// by pid 13, which has spent 50 since it started; inventory appears.
	f.ticks[10], f.ticks[11] = 800, 200
	f.pids["payment"], f.ticks[13] = 13, 50
	f.pids["inventory"], f.ticks[14] = 14, 30
	m.Stop()
	r := m.Report(100)

	want := map[string]struct {
		ticks float64
		note  string
	}{
		"plane":     {300, ""},
		"order":     {100, ""},
		"payment":   {50, "replaced during the window (pid 12 -> 13)"},
		"inventory": {30, "no reading at the start"},
	}
	if len(r.Processes) != len(want) {
		t.Fatalf("processes %+v, want %d", r.Processes, len(want))
	}
	var total float64
	for _, p := range r.Processes {
		w, ok := want[p.Name]
		if !ok {
			t.Fatalf("unexpected process %q", p.Name)
		}
		if !near(p.CPUSeconds, w.ticks/hz) {
			t.Errorf("%s: %v CPU s, want %v", p.Name, p.CPUSeconds, w.ticks/hz)
		}
		if !near(p.MsPerOrder, w.ticks/hz*1000/100) {
			t.Errorf("%s: %v ms/order, want %v", p.Name, p.MsPerOrder, w.ticks/hz*10)
		}
		if (w.note == "") != (p.Note == "") || !strings.Contains(p.Note, w.note) {
			t.Errorf("%s: note %q, want one with %q", p.Name, p.Note, w.note)
		}
		total += w.ticks / hz
	}
	if !near(r.CPUSeconds, total) || !near(r.MsPerOrder, total*1000/100) {
		t.Fatalf("total %v s, %v ms/order; want %v s", r.CPUSeconds, r.MsPerOrder, total)
	}
	var shares float64
	for _, p := range r.Processes {
		shares += p.Share
	}
	if !near(shares, 1) {
		t.Fatalf("shares add to %v", shares)
	}
	if r.WindowSeconds <= 0 || !near(r.CoresBusy, r.CPUSeconds/r.WindowSeconds) {
		t.Fatalf("window %v s, cores busy %v", r.WindowSeconds, r.CoresBusy)
	}
}

func TestMeterReportProcessGoneAndNoOrders(t *testing.T) {
	f := &fakeProcs{pids: map[string]int{"order": 11}, ticks: map[int]uint64{11: 100}, gone: map[int]bool{}}
	m := &Meter{procs: f.list, read: f.read}
	m.Start()
	f.gone[11] = true
	m.Stop()
	r := m.Report(0)
	if len(r.Processes) != 1 || r.Processes[0].CPUSeconds != 0 || !strings.Contains(r.Processes[0].Note, "not measured") {
		t.Fatalf("processes %+v", r.Processes)
	}
	if r.MsPerOrder != 0 || r.CPUSeconds != 0 {
		t.Fatalf("report %+v", r)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestParseProcStat(t *testing.T) {
	text := "cpu  100 5 50 1000 20 3 7 2 9 1\ncpu0 50 2 25 500 10 1 3 1 0 0\ncpu1 50 3 25 500 10 2 4 1 0 0\nintr 1 2 3\n"
	m, err := ParseProcStat(text)
	if err != nil {
		t.Fatal(err)
	}
	// busy: user+nice+system+irq+softirq+steal = 100+5+50+3+7+2; idle: 1000+20.
	if m.Busy != 167 || m.Idle != 1020 || m.Cores != 2 {
		t.Fatalf("got %+v, want busy 167 idle 1020 cores 2", m)
	}
	for _, bad := range []string{"", "intr 1\n", "cpu 1 2 3\n", "cpu 1 2 3 x 5 6 7 8\n"} {
		if _, err := ParseProcStat(bad); err == nil {
			t.Errorf("ParseProcStat(%q): no error", bad)
		}
	}
}

func TestMeterReportsTheMachine(t *testing.T) {
	readings := []MachineTicks{{Busy: 1000, Idle: 5000, Cores: 2}, {Busy: 1300, Idle: 5100, Cores: 2}}
	m := NewMeter(func() []Proc { return nil })
	m.machine = func() (MachineTicks, error) { r := readings[0]; readings = readings[1:]; return r, nil }
	m.Start()
	m.Stop()
	r := m.Report(100)
	if r.Machine == nil {
		t.Fatal("no machine figures")
	}
	want := 300.0 / float64(ClockTicks())
	if r.Machine.CPUSeconds != want || r.Machine.MsPerOrder != want*10 || r.Machine.Cores != 2 {
		t.Fatalf("machine %+v, want %.2f CPU-s, %.2f ms per order, 2 cores", *r.Machine, want, want*10)
	}
	if !strings.Contains(r.Summary(), "machine CPU: ") {
		t.Fatalf("summary %q names no machine CPU", r.Summary())
	}
}

func TestByCommandAddsUpEachCommandsGrowth(t *testing.T) {
	from := map[int]Stat{
		10: {PID: 10, Comm: "postgres", UserTicks: 100, SystemTicks: 50},
		11: {PID: 11, Comm: "postgres", UserTicks: 10},
		20: {PID: 20, Comm: "java", UserTicks: 1000},
		30: {PID: 30, Comm: "gone"}, // ended in the window: not counted
		40: {PID: 40, Comm: "old", UserTicks: 500},
		50: {PID: 50, Comm: "kworker/0:2-events", UserTicks: 9000, StartTime: 77},
		60: {PID: 60, Comm: "sh", UserTicks: 300, StartTime: 80},
	}
	until := map[int]Stat{
		10: {PID: 10, Comm: "postgres", UserTicks: 150, SystemTicks: 60}, // +60
		11: {PID: 11, Comm: "postgres", UserTicks: 30},                   // +20
		12: {PID: 12, Comm: "postgres", UserTicks: 5},                    // new: whole life
		20: {PID: 20, Comm: "java", UserTicks: 1100},                     // +100
		40: {PID: 40, Comm: "reused", UserTicks: 7},                      // pid reused: whole life
		// One kernel worker, renamed for its work item: +3, not its 9,003 since boot.
		50: {PID: 50, Comm: "kworker/0:2-mm_percpu_wq", UserTicks: 9003, StartTime: 77},
		60: {PID: 60, Comm: "sh", UserTicks: 4, StartTime: 95}, // pid reused by a later sh: whole life
	}
	got := byCommand(from, until, 100, 10)
	want := []CommandCPU{
		{Command: "java", Processes: 1, CPUSeconds: 1, MsPerOrder: 100},
		{Command: "postgres", Processes: 3, CPUSeconds: 0.85, MsPerOrder: 85},
		{Command: "reused", Processes: 1, CPUSeconds: 0.07, MsPerOrder: 7},
		{Command: "sh", Processes: 1, CPUSeconds: 0.04, MsPerOrder: 4},
		{Command: "kworker/0:2-mm_percpu_wq", Processes: 1, CPUSeconds: 0.03, MsPerOrder: 3},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Command != w.Command || g.Processes != w.Processes || math.Abs(g.CPUSeconds-w.CPUSeconds) > 1e-9 || math.Abs(g.MsPerOrder-w.MsPerOrder) > 1e-9 {
			t.Errorf("row %d: got %+v, want %+v", i, g, w)
		}
	}
}
