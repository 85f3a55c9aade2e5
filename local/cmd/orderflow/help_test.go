package main

import (
	"context"
	"errors"
	"fmt"
	"orderflow.dev/local/dlq"
	"orderflow.dev/shared/store"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// every command of the tree, depth first.
func everyCommand(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, everyCommand(sub)...)
	}
	return out
}

// The conventions users check first, on every command's help: no flag
// whose usage pflag would read a placeholder from (a back-quoted word
// becomes the value's name: "--state-dir up"), a Long help that is short
// and points to docs/ when it is there at all, -o among the flags of
// every command (it is the root's, persistent), and the exit codes on the
// root's help.
func TestEveryCommandsHelpKeepsTheConventions(t *testing.T) {
	root := newRoot()
	if !strings.Contains(root.Long, "Exit codes: 0 success; 1 a check ran and failed") {
		t.Errorf("the root's help does not document the exit codes:\n%s", root.Long)
	}
	for _, c := range everyCommand(root) {
		name := c.CommandPath()
		check := func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				varName, _ := pflag.UnquoteUsage(f)
				t.Errorf("%s --%s: a back-quoted word in its usage shows as its value's name (%q)", name, f.Name, varName)
			}
			if f.Usage == "" {
				t.Errorf("%s --%s: no usage", name, f.Name)
			}
		}
		c.LocalFlags().VisitAll(check)
		if c.InheritedFlags().Lookup("output") == nil && c.LocalFlags().Lookup("output") == nil {
			t.Errorf("%s: no -o/--output", name)
		}
		if lines := strings.Count(strings.TrimSpace(c.Long), "\n") + 1; c.Long != "" && lines > 12 {
			t.Errorf("%s: Long help of %d lines; keep it short and point to docs/", name, lines)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{checkFailed("demo failed: invariants violated"), exitCheckFailed},
		{fmt.Errorf("wrapped: %w", checkFailed("x")), exitCheckFailed},
		{errVerifyFailed, exitCheckFailed},
		{usage(errors.New("anything")), exitUsage},
		{errors.New("--rate -5: must be positive"), exitUsage},
		{errors.New(`unknown command "x" for "orderflow"`), exitUsage},
		{errors.New("unknown flag: --nope"), exitUsage},
		{errors.New("dial tcp 127.0.0.1:9: connection refused"), exitRuntime},
		{func() error {
			_, err := store.Open(context.Background(), "--database", "postgres://u:pw@127.0.0.1:1/db")
			return err
		}(), exitRuntime},
		{func() error { _, err := store.Open(context.Background(), "--database", "nosuch://x"); return err }(), exitUsage},
		{fmt.Errorf("reading: %w", func() error { _, _, _, err := dlq.ParseID("x"); return err }()), exitUsage},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("%v: exit %d, want %d", c.err, got, c.want)
		}
	}
}

// What a script sees from a whole command line, without a process.
func TestCommandLinesExitAsTheyShould(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"version"}, exitOK},
		{[]string{"version", "-o", "json"}, exitOK},
		{[]string{"version", "-o", "yaml"}, exitUsage},
		{[]string{"nosuch"}, exitUsage},
		{[]string{"demo", "--nosuch"}, exitUsage},
		{[]string{"demo", "--orders", "many"}, exitUsage},
		// Each Options' Validate, before anything is read or started.
		{[]string{"demo", "--orders", "0"}, exitUsage},
		{[]string{"demo", "--attach", "--account"}, exitUsage},
		{[]string{"bench", "--rates", "x"}, exitUsage},
		{[]string{"bench", "--rates", "0"}, exitUsage},
		{[]string{"bench", "--data-planes", "knative"}, exitUsage},
		{[]string{"bench", "--data-plane", "nope"}, exitUsage},
		{[]string{"soak", "--rate", "0"}, exitUsage},
		{[]string{"soak", "--duration", "1m", "--warmup", "1m"}, exitUsage},
		{[]string{"version", "extra"}, exitUsage},
		{[]string{"scalebench", "--database-url", "postgres://127.0.0.1:1/none", "--replicas", "0"}, exitUsage},
		{[]string{"scalebench", "--database-url", "sqlite:///tmp/x.db"}, exitUsage},
		{[]string{"scalebench", "--wake-ups", "few"}, exitUsage},
		{[]string{"up", "--ping-every", "-1s"}, exitUsage},
		{[]string{"up", "--data-plane", "nope"}, exitUsage},
		{[]string{"up", "--brokers", "k1:9092", "--broker-sync"}, exitUsage},
		{[]string{"lag", "--interval", "0s"}, exitUsage},
		{[]string{"dlq", "--brokers", "kafka"}, exitUsage},
		{[]string{"dlq", "list", "--brokers", "kafka"}, exitUsage},
		{[]string{"dlq", "show", "order:0:1", "--brokers", "kafka"}, exitUsage},
		{[]string{"dlq", "purge", "order", "--through", "17"}, exitUsage},
		{[]string{"dlq", "purge", "order", "--through", "payment:0:3"}, exitUsage},
		{[]string{"place"}, exitUsage},
		{[]string{"place", "--sku", "sku-tee"}, exitUsage},
		{[]string{"place", "--sku", "sku-tee:1", "--id", "my order"}, exitUsage},
		{[]string{"order", "ord-1", "--brokers", "kafka"}, exitUsage},
		// A bad id or name is known before anything is looked for.
		{[]string{"order", ""}, exitUsage},
		{[]string{"order", "a b"}, exitUsage},
		{[]string{"order", "../etc"}, exitUsage},
		{[]string{"dlq", "show", "nosuch"}, exitUsage},
		{[]string{"dlq", "show", "order:x:1"}, exitUsage},
		{[]string{"replay", "nosuch"}, exitUsage},
		{[]string{"dlq", "replay", "--all", "--to", ""}, exitUsage},
		// An empty value, as an unset variable gives, is not the default.
		{[]string{"up", "--database-url", ""}, exitUsage},
		{[]string{"demo", "--results", " "}, exitUsage},
		{[]string{"faults", "--scenario", ""}, exitUsage},
		{[]string{"faults", "--scenario", "kill-restart,,poison"}, exitUsage},
		{[]string{"bench", "--scale", ""}, exitUsage},
		{[]string{"order", "ord-1", "--root", ""}, exitUsage},
		{[]string{"version", "--state-dir", ""}, exitUsage},
		{[]string{"trace", "ord-1", "--jaeger", "127.0.0.1:16686"}, exitUsage},
		{[]string{"trace", "ord-1", "--jaeger", "ftp://x"}, exitUsage},
		{[]string{"up", "--host", "not-an-ip"}, exitUsage},
		{[]string{"up", "--ping-every", "1ns"}, exitUsage},
		{[]string{"demo", "--rate", "NaN"}, exitUsage},
		{[]string{"demo", "--rate", "-Inf"}, exitUsage},
		{[]string{"demo", "--concurrency", "100000000"}, exitUsage},
		{[]string{"soak", "--concurrency", "100000000"}, exitUsage},
		{[]string{"bench", "--rates", "20,NaN"}, exitUsage},
		{[]string{"bench", "--rates", "Inf"}, exitUsage},
		{[]string{"demo", "--orders", "100000000"}, exitUsage},
		{[]string{"faults", "--orders", "100000000"}, exitUsage},
		{[]string{"stats", "--brokers", "kafka"}, exitUsage},
		{[]string{"trace", " "}, exitUsage},
		{[]string{"soak", "report", "results.json", "--warmup", "-1m"}, exitUsage},
		{[]string{"new", "function", "Loyalty_Points", "--on", "order.confirmed"}, exitUsage},
		{[]string{"new", "function", "loyalty"}, exitUsage},
		{[]string{"up", "--state-dir", "help_test.go"}, exitUsage},
		{[]string{"schemas", "chek"}, exitUsage},
		{[]string{"schemas", "push", "--timeout", "0s"}, exitUsage},
		{[]string{"new", "fucntion"}, exitUsage},
		{[]string{"schemas"}, exitOK},
		{[]string{"lag", "--watch", "--interval", "1ns"}, exitUsage},
		{[]string{"replay", "order", "--progress", "1ms"}, exitUsage},
		{[]string{"up", "--watch-manifests", "1ns"}, exitUsage},
		{[]string{"dlq", "--state-dir", "help_test.go"}, exitUsage},
		// -o json where the result is text: refused, not text to a script.
		{[]string{"-o", "json", "demo"}, exitUsage},
		{[]string{"-o", "json", "replay", "order"}, exitUsage},
		{[]string{"schemas", "check", "-o", "json"}, exitUsage},
		{[]string{"-o", "json", "up"}, exitUsage},
	} {
		root := newRoot()
		root.SetArgs(c.args)
		var out strings.Builder
		root.SetOut(&out)
		root.SetErr(&out)
		err := root.Execute()
		if got := exitCode(err); got != c.want {
			t.Errorf("orderflow %s: exit %d (%v), want %d", strings.Join(c.args, " "), got, err, c.want)
		}
	}
}

// Every command -o json is promised for exists (a renamed command would
// otherwise start refusing it).
func TestTheCommandsThatPrintJSONExist(t *testing.T) {
	have := map[string]bool{}
	for _, c := range everyCommand(newRoot()) {
		have[c.CommandPath()] = true
	}
	for path := range printsJSON {
		if !have[path] {
			t.Errorf("printsJSON names %q: no such command", path)
		}
	}
}

func TestRateListShowsAndReadsPlainNumbers(t *testing.T) {
	r := rateList{20, 40.5}
	if r.String() != "20,40.5" {
		t.Errorf("shown as %q", r.String())
	}
	if err := r.Set("5, 10,15"); err != nil || r.String() != "5,10,15" {
		t.Errorf("set: %v %q", err, r.String())
	}
	if err := r.Set("5,fast"); err == nil || !strings.Contains(err.Error(), `"fast"`) {
		t.Errorf("a word among the rates: %v", err)
	}
}

// One flag name per concept: a name means the same kind of value on every
// command that has it (up's --data-plane is one plane, bench's list is
// --data-planes), and deprecated names are hidden.
func TestAFlagNameHasOneTypeOnEveryCommand(t *testing.T) {
	seen := map[string]string{} // flag name -> "type (command)"
	for _, c := range everyCommand(newRoot()) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Deprecated != "" {
				if !f.Hidden {
					t.Errorf("%s --%s: deprecated but shown in help", c.CommandPath(), f.Name)
				}
				return
			}
			typ := f.Value.Type()
			if first, ok := seen[f.Name]; ok && !strings.HasPrefix(first, typ+" ") {
				t.Errorf("--%s is %s on %s but %s", f.Name, typ, c.CommandPath(), first)
				return
			}
			seen[f.Name] = typ + " (" + c.CommandPath() + ")"
		})
	}
}
