package e2e

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/local/fnserve"
)

// Bad configuration makes `orderflow up` fail within seconds, exit
// non-zero and name the setting at fault: no hang, no stack trace.
func TestUpFailsFastOnBadConfig(t *testing.T) {
	// A loopback port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	// The topology's functions: sorted where a message lists them, in the
	// manifests' order where the plane starts them.
	sorted := strings.Join(fnserve.Names(), ", ")
	set, err := manifests.Load(filepath.Join(root, "knative", "base"))
	if err != nil {
		t.Fatal(err)
	}
	var started []string
	for _, s := range set.Sources {
		if s.Sink.Ref != nil && !slices.Contains(started, s.Sink.Ref.Name) {
			started = append(started, s.Sink.Ref.Name)
		}
	}

	tests := []struct {
		name   string
		args   []string
		within time.Duration
		want   []string
		// oneLine: the error (from "orderflow: " on) is a single line.
		oneLine bool
	}{
		{
			name: "unreachable brokers",
			args: []string{"up", "--brokers", dead},
			// broker.RefusedGrace (5s) of patience for a broker still
			// binding its port, then out.
			within: 15 * time.Second,
			want:   []string{"kafka bootstrap servers " + dead + " (--brokers)", "connection refused"},
		},
		{
			name:   "unreachable brokers, one of several",
			args:   []string{"up", "--brokers", dead + ",127.0.0.1:1"},
			within: 15 * time.Second,
			want:   []string{"kafka bootstrap servers " + dead + ",127.0.0.1:1 (--brokers)", "connection refused"},
		},
		{
			name:   "database nobody serves",
			args:   []string{"up", "--env", "order/ORDERFLOW_DATABASE_URL=postgres://nobody:x@127.0.0.1:1/db"},
			within: 30 * time.Second,
			want:   []string{"function order failed to start", "ORDERFLOW_DATABASE_URL=postgres://nobody@127.0.0.1:1/db", "cannot connect"},
		},
		{
			name:   "database of an unknown kind",
			args:   []string{"up", "--env", "inventory/ORDERFLOW_DATABASE_URL=mysql://db/inventory"},
			within: 30 * time.Second,
			want:   []string{"function inventory failed to start", "ORDERFLOW_DATABASE_URL", `unsupported database scheme "mysql"`},
		},
		{
			name:    "a bad value of a variable every function reads",
			args:    []string{"up", "--env", "ORDERFLOW_RELAY_INTERVAL=banana"},
			within:  30 * time.Second,
			want:    []string{`ORDERFLOW_RELAY_INTERVAL="banana": want a duration`, "functions " + strings.Join(started, ", ") + " failed to start"},
			oneLine: true,
		},
		{
			name:    "a bad value of one function's variable",
			args:    []string{"up", "--env", "analytics/ANALYTICS_STALL_BATCH=lots"},
			within:  30 * time.Second,
			want:    []string{"function analytics failed to start", `ANALYTICS_STALL_BATCH="lots": want a whole number`},
			oneLine: true,
		},
		{
			name:    "--env for a function not in the topology",
			args:    []string{"up", "--env", "ordr/ORDERFLOW_DATABASE_URL=postgres://secret@db/x"},
			within:  5 * time.Second,
			want:    []string{`--env ordr/ORDERFLOW_DATABASE_URL=...: no function "ordr" in the topology (its functions: ` + sorted + ")"},
			oneLine: true,
		},
		{
			name:    "--env for another function not in the topology",
			args:    []string{"up", "--env", "nosuchfn/FOO=1"},
			within:  5 * time.Second,
			want:    []string{`no function "nosuchfn"`, sorted},
			oneLine: true,
		},
		{
			name:    "--env without a variable name",
			args:    []string{"up", "--env", "order/=x"},
			within:  5 * time.Second,
			want:    []string{"--env order/=...: the variable name is empty", sorted},
			oneLine: true,
		},
		{
			name:    "a function's own setting that is not a number",
			args:    []string{"up", "--env", "payment/PAYMENT_DECLINE_ABOVE_CENTS=lots"},
			within:  30 * time.Second,
			want:    []string{"function payment failed to start", `PAYMENT_DECLINE_ABOVE_CENTS="lots": want a whole number of cents >= 0`},
			oneLine: true,
		},
		{
			name:   "bad replication settings",
			args:   []string{"up", "--topic-replicas", "1", "--min-insync-replicas", "2"},
			within: 5 * time.Second,
			want:   []string{"--min-insync-replicas 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.within+30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, append(tt.args, "--state-dir", t.TempDir())...)
			cmd.Dir = root
			start := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(start)
			t.Logf("exit after %s: %v\n%s", took.Round(time.Millisecond), err, out)
			if err == nil {
				t.Fatal("exit 0, want failure")
			}
			if took > tt.within {
				t.Errorf("took %s, want a failure within %s", took, tt.within)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not name %q", w)
				}
			}
			if _, msg, ok := strings.Cut(string(out), "orderflow: "); tt.oneLine && (!ok || strings.Count(strings.TrimSpace(msg), "\n") > 0) {
				t.Errorf("the error is not one line: %q", msg)
			}
			if strings.Contains(string(out), "secret") {
				t.Error("the output shows the value of an --env variable")
			}
			for _, bad := range []string{"panic:", "goroutine ", ".go:"} {
				if strings.Contains(string(out), bad) {
					t.Errorf("output has a stack trace (%q)", bad)
				}
			}
		})
	}
}
