package profile

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// The machine's CPU by command says how much Kafka's JVM and PostgreSQL
// cost an order, not what in them: a JVM's request threads or its JIT
// compiler, a PostgreSQL backend or its WAL writer. Parts split those two
// commands, from /proc alone, so every demo on the production path shows
// it: a JVM by its threads' names (/proc/<pid>/task/<tid>/stat, the name
// the JVM gives the native thread, cut to 15 bytes by the kernel), a
// PostgreSQL process by the role in its title (/proc/<pid>/cmdline).

// jvmCommand and postgresCommand are the commands whose parts are read.
const (
	jvmCommand      = "java"
	postgresCommand = "postgres"
)

// PartCPU is the CPU of one part of a command over the window.
type PartCPU struct {
	Part       string  `json:"part"`
	Threads    int     `json:"threads"` // threads or processes
	CPUSeconds float64 `json:"cpuSeconds"`
	MsPerOrder float64 `json:"cpuMillisPerOrderEnded"`
}

// jvmThreads reads the threads of a JVM, by thread id, each with its pool
// as its Part (threadPool) and the JVM's command as its Comm.
func jvmThreads(pid int, into map[int]Stat) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStatFile(dir + "/" + e.Name() + "/stat")
		if err != nil {
			continue // ended while read
		}
		st.Part = threadPool(st.Comm)
		st.Comm = jvmCommand
		into[tid] = st
	}
}

// threadPool names the pool a JVM thread belongs to: its name without
// the number that tells the pool's threads apart ("GC Thread#1" -> "GC
// Thread"; "kafka-scheduler-3" -> "kafka-scheduler"). Kafka's network
// and request-handler threads both start "data-plane-kafka-", which is
// all the kernel keeps of either: they are one part, the threads that
// serve the clients' requests.
func threadPool(name string) string {
	trimmed := strings.TrimRight(name, "0123456789#-_ ")
	if trimmed == "" {
		return name
	}
	if trimmed == "data-plane-kafk" || trimmed == "data-plane-kafka" {
		return "kafka requests (network+handlers)"
	}
	return trimmed
}

// postgresRole names what a PostgreSQL process is, from the title it
// sets in its command line: "postgres: walwriter", "postgres: orderflow
// orderflow 127.0.0.1(5432) idle" (a backend serving a client), or the
// server's own command line (the postmaster).
func postgresRole(cmdline string) string {
	title, ok := strings.CutPrefix(cmdline, "postgres: ")
	if !ok {
		return "postmaster"
	}
	for _, aux := range []string{"walwriter", "checkpointer", "background writer", "autovacuum launcher",
		"autovacuum worker", "logical replication launcher", "archiver", "stats collector", "walsender",
		"walreceiver", "startup", "logical replication worker", "parallel worker"} {
		if strings.HasPrefix(title, aux) {
			return aux
		}
	}
	return "backend"
}

// readCmdline reads /proc/<pid>/cmdline as one line.
func readCmdline(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// growth is what one process's (or thread's) CPU grew by between two
// readings, in ticks: its whole life when it is new at the end.
func growth(from map[int]Stat, id int, end Stat) uint64 {
	ticks := end.UserTicks + end.SystemTicks
	if begin, ok := from[id]; ok && sameProcess(begin, end) {
		ticks -= min(ticks, begin.UserTicks+begin.SystemTicks)
	}
	return ticks
}

// partsByCommand adds up, per command, the growth of each part: the
// processes with a Part (PostgreSQL's) and the threads (a JVM's).
func partsByCommand(from, until, fromThreads, untilThreads map[int]Stat, hz, orders int) map[string][]PartCPU {
	sums := map[string]tally{}
	add := func(readFrom map[int]Stat, id int, end Stat) {
		if end.Part == "" {
			return
		}
		if sums[end.Comm] == nil {
			sums[end.Comm] = tally{}
		}
		sums[end.Comm].add(end.Part, growth(readFrom, id, end), hz)
	}
	for pid, end := range until {
		add(from, pid, end)
	}
	for tid, end := range untilThreads {
		add(fromThreads, tid, end)
	}
	out := map[string][]PartCPU{}
	for cmd, parts := range sums {
		for _, t := range parts.busiest() {
			out[cmd] = append(out[cmd], PartCPU{Part: t.name, Threads: t.count, CPUSeconds: t.seconds, MsPerOrder: perOrder(t.seconds, orders)})
		}
	}
	return out
}

// tally adds up CPU seconds, and the processes or threads they came
// from, under names.
type tally map[string]*tallied

type tallied struct {
	name    string
	count   int
	seconds float64
}

func (t tally) add(name string, ticks uint64, hz int) {
	e := t[name]
	if e == nil {
		e = &tallied{name: name}
		t[name] = e
	}
	e.count++
	e.seconds += float64(ticks) / float64(hz)
}

// busiest is the names that used any CPU, busiest first (a tie by name,
// so a report reads the same twice).
func (t tally) busiest() []tallied {
	var out []tallied
	for _, e := range t {
		if e.seconds > 0 {
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].seconds != out[j].seconds {
			return out[i].seconds > out[j].seconds
		}
		return out[i].name < out[j].name
	})
	return out
}
