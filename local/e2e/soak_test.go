package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/soak"
)

// A short soak on the embedded broker: every placed order ends, the
// invariants hold, and every sample has each function's database size,
// memory and tables (bookkeeping apart from domain); once the functions
// stopped, each database's tables are listed.
func TestSoakRecordsEveryFunctionOverTime(t *testing.T) {
	if brokers() != nil {
		t.Skip("the soak's end-to-end test runs on the embedded broker (its topology is its own)")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "soak.json")
	cmd := exec.Command(binary, "soak", "--duration", "20s", "--rate", "10", "--sample", "2s", "--warmup", "4s",
		"--retention", "2m", "--prune-interval", "5s", "--state-dir", filepath.Join(dir, "state"), "--out", out)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = testWriter{t}, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("orderflow soak: %v\nstderr:\n%s", err, stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res soak.Results
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}

	s := res.Summary
	if s.Placed != 200 || s.Ended != s.Placed || s.Unfinished != 0 || s.NotAccepted != 0 || s.Unexpected != 0 {
		t.Errorf("placed %d, ended %d, unfinished %d, not accepted %d, unexpected %d; want 200 placed, all ended as predicted",
			s.Placed, s.Ended, s.Unfinished, s.NotAccepted, s.Unexpected)
	}
	if !s.Check.OK() || s.Check.Placed != s.Placed {
		t.Errorf("invariants: %s", s.Check)
	}

	// Ten ticks while placing, one at the end: some jitter allowed, not a
	// soak of one sample.
	if len(res.Samples) < 8 {
		t.Fatalf("%d samples, want one every 2s of 20s", len(res.Samples))
	}
	functions := fnserve.Names()
	for i, sample := range res.Samples {
		if sample.PlaneRSS <= 0 {
			t.Errorf("sample %d (%.0fs): plane rss %d", i, sample.Seconds, sample.PlaneRSS)
		}
		for _, name := range functions {
			f, ok := sample.Functions[name]
			if !ok || f.DBBytes <= 0 || f.RSSBytes <= 0 || f.PID <= 0 || f.PrunedRows < 0 || len(f.Errors) > 0 {
				t.Errorf("sample %d (%.0fs): %s = %+v (present %v), want its pid, database size, rss and pruned rows", i, sample.Seconds, name, f, ok)
			}
		}
	}
	// Every sample reads each function's tables while it runs: its
	// bookkeeping tables (processed_events and outbox, in its own file)
	// with their rows, the split adding up to what the tables say, and
	// the domain per ended order once orders ended.
	processedSeen := map[string]bool{}
	for i, sample := range res.Samples {
		for _, name := range functions {
			f := sample.Functions[name]
			var bookkeeping, domain int64
			present := map[string]bool{}
			for _, table := range f.Tables {
				switch {
				case table.Name == soak.FreePages:
				case soak.BookkeepingTables[table.Name]:
					bookkeeping += table.Bytes
				default:
					domain += table.Bytes
				}
				if table.File == name+".db" && soak.BookkeepingTables[table.Name] {
					present[table.Name] = table.Rows >= 0 && table.Bytes > 0
					if table.Name == "processed_events" && table.Rows > 0 {
						processedSeen[name] = true
					}
				}
			}
			if !present["processed_events"] || !present["outbox"] {
				t.Errorf("sample %d (%.0fs): %s's tables %+v, want processed_events and outbox of %s.db with rows and bytes", i, sample.Seconds, name, f.Tables, name)
			}
			if f.BookkeepingBytes != bookkeeping || f.DomainBytes != domain || bookkeeping <= 0 || domain <= 0 {
				t.Errorf("sample %d (%.0fs): %s bookkeeping %d, domain %d; its tables add up to %d and %d", i, sample.Seconds, name, f.BookkeepingBytes, f.DomainBytes, bookkeeping, domain)
			}
			if sample.Ended > 0 && (f.DomainBytesPerOrder <= 0 || f.DomainBytesPerOrder > float64(f.DomainBytes)/float64(sample.Ended)) {
				t.Errorf("sample %d (%.0fs): %s domain %.0f bytes per order of %d bytes, %d ended (at least, when its tables were read)",
					i, sample.Seconds, name, f.DomainBytesPerOrder, f.DomainBytes, sample.Ended)
			}
		}
	}
	for _, name := range functions {
		if !processedSeen[name] {
			t.Errorf("%s: no sample has a processed id in processed_events", name)
		}
	}
	var bookkeepingVerdicts, domainVerdicts int
	for _, v := range res.Verdicts {
		switch v.Part {
		case "bookkeeping":
			bookkeepingVerdicts++
		case "domain per order":
			domainVerdicts++
		}
	}
	if bookkeepingVerdicts != len(functions)+1 || domainVerdicts != len(functions)+1 {
		t.Errorf("verdicts %+v: want bookkeeping and domain per order of every function and of all", res.Verdicts)
	}

	last := res.Samples[len(res.Samples)-1]
	if !last.Final || last.Placed != s.Placed || last.Ended != s.Placed {
		t.Errorf("last sample: final %v, placed %d, ended %d; want the final one with every order ended", last.Final, last.Placed, last.Ended)
	}
	var withLatency int
	for _, sample := range res.Samples {
		if sample.EndedPerSecond > 0 && sample.P99Millis >= sample.P50Millis && sample.P50Millis > 0 {
			withLatency++
		}
	}
	if withLatency < len(res.Samples)/2 {
		t.Errorf("only %d of %d samples have a p50 and p99 of the orders ended in them", withLatency, len(res.Samples))
	}
	if len(res.Trend) == 0 {
		t.Error("no trend from the warm-up to the end")
	}

	// Every function records what it handled in processed_events.
	for _, name := range functions {
		var processed int64 = -1
		for _, table := range res.Tables[name] {
			if table.File == name+".db" && table.Name == "processed_events" {
				processed = table.Rows
			}
		}
		if processed <= 0 {
			t.Errorf("%s: processed_events has %d rows after the soak (tables %+v)", name, processed, res.Tables[name])
		}
	}

	png, err := os.ReadFile(strings.TrimSuffix(out, ".json") + ".png")
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("picture beside the results: %v (starts %q)", err, png[:min(len(png), 8)])
	}
	// A progress line per sample on stderr, naming every function.
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) < len(res.Samples) || !strings.Contains(lines[0], "analytics db") || !strings.Contains(lines[0], "p99") {
		t.Errorf("stderr has %d lines for %d samples; first: %q", len(lines), len(res.Samples), lines[0])
	}

	// The plane ran as a process of its own: the soak's own memory (the
	// load generator's) is recorded apart, every sample, and the plane's
	// is not this process's.
	for i, sample := range res.Samples {
		if sample.HarnessRSS <= 0 || sample.HarnessGo == nil || sample.HarnessGo.HeapLive <= 0 || sample.PlaneGo != nil {
			t.Errorf("sample %d (%.0fs): load generator rss %d, go %+v, plane go %+v; want the load generator measured apart from the plane",
				i, sample.Seconds, sample.HarnessRSS, sample.HarnessGo, sample.PlaneGo)
		}
	}
	if !strings.Contains(string(raw), `"harnessRssBytes"`) {
		t.Error("results file has no harnessRssBytes")
	}

	// soak report judges the file again from its samples, here from
	// another warm-up, writes the judgement back and redraws the picture.
	os.Remove(strings.TrimSuffix(out, ".json") + ".png")
	report := exec.Command(binary, "soak", "report", "--warmup", "6s", out)
	report.Dir = root
	if b, err := report.CombinedOutput(); err != nil || !strings.Contains(string(b), "memory after the warm-up") {
		t.Fatalf("orderflow soak report: %v\n%s", err, b)
	}
	raw, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var judged soak.Results
	if err := json.Unmarshal(raw, &judged); err != nil {
		t.Fatal(err)
	}
	if judged.Judged.IsZero() || judged.WarmUp != "6s" || len(judged.Verdicts) == 0 || len(judged.Samples) != len(res.Samples) {
		t.Errorf("after report: judged %v, warm-up %q, %d verdicts, %d samples (had %d)", judged.Judged, judged.WarmUp, len(judged.Verdicts), len(judged.Samples), len(res.Samples))
	}
	if png, err := os.ReadFile(strings.TrimSuffix(out, ".json") + ".png"); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("picture redrawn by report: %v", err)
	}
	bad := exec.Command(binary, "soak", "report", "--warmup", "1h", out)
	bad.Dir = root
	if b, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(b), "--warmup 1h0m0s") {
		t.Errorf("soak report --warmup 1h: %v\n%s\nwant a refusal naming --warmup", err, b)
	}
}

func TestSoakRefusesBadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "0"}, "--rate 0: must be positive"},
		{[]string{"--rate", "-5"}, "--rate -5: must be positive"},
		{[]string{"--duration", "0s"}, "--duration 0s: must be positive"},
		{[]string{"--duration", "-1m"}, "--duration -1m0s: must be positive"},
		{[]string{"--duration", "1m", "--sample", "2m"}, "--sample 2m0s is longer than --duration 1m0s"},
		{[]string{"--sample", "0s"}, "--sample 0s: must be positive"},
		{[]string{"--duration", "1s", "--rate", "0.5", "--sample", "1s"}, "places no order"},
		{[]string{"--retention", "1m"}, "--retention 1m0s: must be at least 2m0s"},
		{[]string{"--duration", "1m", "--warmup", "1m"}, "--warmup 1m0s"},
		{[]string{"--warmup", "-5s"}, "--warmup -5s"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(binary, append([]string{"soak", "--state-dir", t.TempDir()}, tt.args...)...)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("exit 0, want failure:\n%s", out)
			}
			if !strings.Contains(string(out), tt.want) || strings.Contains(string(out), "starting orderflow") {
				t.Fatalf("output:\n%s\nwant %q before anything starts", out, tt.want)
			}
		})
	}
}

// The plane killed mid-soak ends the soak at once, naming the plane's
// exit, with the samples so far kept: not a soak placing into nothing.
func TestSoakEndsWhenItsPlaneDies(t *testing.T) {
	if brokers() != nil {
		t.Skip("runs on the embedded broker")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	out := filepath.Join(dir, "soak.json")
	cmd := exec.Command(binary, "--state-dir", state, "soak", "--duration", "2m", "--rate", "10", "--sample", "2s", "--warmup", "10s", "--out", out)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var ep plane.Endpoints
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var err error
		if ep, err = plane.ReadEndpoints(filepath.Join(state, "soak")); err == nil && ep.PID > 0 && ep.PID != cmd.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no plane started by the soak within 2 minutes:\n%s\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // orders going in
	if err := syscall.Kill(ep.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("soak exited 0 after its plane was killed:\n%s", stdout.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("soak still running a minute after its plane was killed:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "exited mid-run") || !strings.Contains(stdout.String(), "the samples so far: "+out) {
		t.Errorf("want the plane's exit named and the samples kept; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}
