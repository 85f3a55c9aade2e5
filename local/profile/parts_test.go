package profile

import (
	"math"
	"strings"
	"testing"
)

func TestThreadPool(t *testing.T) {
	for name, want := range map[string]string{
		"GC Thread#1":     "GC Thread",
		"G1 Conc#0":       "G1 Conc",
		"kafka-scheduler": "kafka-scheduler",
		"C2 CompilerThre": "C2 CompilerThre",
		"data-plane-kafk": "kafka requests (network+handlers)",
		"worker-12":       "worker",
		"1234":            "1234", // nothing but a number: kept whole
	} {
		if got := threadPool(name); got != want {
			t.Errorf("threadPool(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPostgresRole(t *testing.T) {
	for cmdline, want := range map[string]string{
		"/usr/lib/postgresql/15/bin/postgres -D /data -p 16432": "postmaster",
		"postgres: walwriter":                                   "walwriter",
		"postgres: background writer":                           "background writer",
		"postgres: autovacuum worker orderflow":                 "autovacuum worker",
		"postgres: orderflow orderflow 127.0.0.1(44312) idle":   "backend",
		"postgres: orderflow orderflow 127.0.0.1(44312) COMMIT": "backend",
		"postgres: logical replication launcher":                "logical replication launcher",
		"":                                                      "postmaster",
	} {
		if got := postgresRole(cmdline); got != want {
			t.Errorf("postgresRole(%q) = %q, want %q", cmdline, got, want)
		}
	}
}

func TestPartsByCommandAddsUpEachPartsGrowth(t *testing.T) {
	from := map[int]Stat{
		10: {PID: 10, Comm: "postgres", Part: "backend", UserTicks: 100, StartTime: 5},
		11: {PID: 11, Comm: "postgres", Part: "walwriter", UserTicks: 40, StartTime: 5},
		20: {PID: 20, Comm: "java", UserTicks: 900, StartTime: 3},
		30: {PID: 30, Comm: "orderflow", UserTicks: 70, StartTime: 4},
	}
	until := map[int]Stat{
		10: {PID: 10, Comm: "postgres", Part: "backend", UserTicks: 160, StartTime: 5},  // +60
		11: {PID: 11, Comm: "postgres", Part: "walwriter", UserTicks: 50, StartTime: 5}, // +10
		12: {PID: 12, Comm: "postgres", Part: "backend", UserTicks: 20, StartTime: 50},  // new: whole life
		20: {PID: 20, Comm: "java", UserTicks: 1000, StartTime: 3},
		30: {PID: 30, Comm: "orderflow", UserTicks: 90, StartTime: 4}, // no parts
	}
	fromThreads := map[int]Stat{
		21: {PID: 21, Comm: "java", Part: "kafka requests (network+handlers)", UserTicks: 300, StartTime: 3},
		22: {PID: 22, Comm: "java", Part: "kafka requests (network+handlers)", UserTicks: 200, StartTime: 3},
		23: {PID: 23, Comm: "java", Part: "C2 CompilerThre", UserTicks: 400, StartTime: 3},
	}
	untilThreads := map[int]Stat{
		21: {PID: 21, Comm: "java", Part: "kafka requests (network+handlers)", UserTicks: 340, StartTime: 3}, // +40
		22: {PID: 22, Comm: "java", Part: "kafka requests (network+handlers)", UserTicks: 230, StartTime: 3}, // +30
		23: {PID: 23, Comm: "java", Part: "C2 CompilerThre", UserTicks: 430, StartTime: 3},                   // +30
		// A tid reused by a later thread: its whole life, not the old one's growth.
		24: {PID: 24, Comm: "java", Part: "GC Thread", UserTicks: 5, StartTime: 60},
	}
	fromThreads[24] = Stat{PID: 24, Comm: "java", Part: "GC Thread", UserTicks: 999, StartTime: 4}
	got := partsByCommand(from, until, fromThreads, untilThreads, 100, 10)
	want := map[string][]PartCPU{
		"postgres": {{Part: "backend", Threads: 2, CPUSeconds: 0.8, MsPerOrder: 80}, {Part: "walwriter", Threads: 1, CPUSeconds: 0.1, MsPerOrder: 10}},
		"java": {{Part: "kafka requests (network+handlers)", Threads: 2, CPUSeconds: 0.7, MsPerOrder: 70},
			{Part: "C2 CompilerThre", Threads: 1, CPUSeconds: 0.3, MsPerOrder: 30}, {Part: "GC Thread", Threads: 1, CPUSeconds: 0.05, MsPerOrder: 5}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for cmd, rows := range want {
		if len(got[cmd]) != len(rows) {
			t.Fatalf("%s: got %+v, want %+v", cmd, got[cmd], rows)
		}
		for i, w := range rows {
			g := got[cmd][i]
			if g.Part != w.Part || g.Threads != w.Threads || math.Abs(g.CPUSeconds-w.CPUSeconds) > 1e-9 || math.Abs(g.MsPerOrder-w.MsPerOrder) > 1e-9 {
				t.Errorf("%s row %d: got %+v, want %+v", cmd, i, g, w)
			}
		}
	}
}

// The summary names each split under its command.
func TestSummaryPrintsTheParts(t *testing.T) {
	r := CPUReport{OrdersEnded: 10, Machine: &MachineCPU{Cores: 2, MsPerOrder: 20,
		ByCommand: []CommandCPU{{Command: "java", MsPerOrder: 6}, {Command: "postgres", MsPerOrder: 4}},
		Parts: map[string][]PartCPU{
			"java":     {{Part: "kafka requests (network+handlers)", MsPerOrder: 3.04}, {Part: "C2 CompilerThre", MsPerOrder: 1}},
			"postgres": {{Part: "backend", MsPerOrder: 3.5}},
		}}}
	s := r.Summary()
	for _, want := range []string{
		"java by thread, ms per order: kafka requests (network+handlers) 3.0, C2 CompilerThre 1.0",
		"postgres by process, ms per order: backend 3.5",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary %q\nwant it to hold %q", s, want)
		}
	}
}
