package soak

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.dev/shared/store"
)

func TestConfigValidate(t *testing.T) {
	good := Config{Duration: time.Minute, Rate: 10, Sample: 10 * time.Second, WarmUp: 10 * time.Second}
	if err := good.Validate(); err != nil {
		t.Fatalf("%+v: %v", good, err)
	}
	if got := good.Orders(); got != 600 {
		t.Errorf("Orders() = %d, want 600", got)
	}
	for name, tt := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"zero rate":          {func(c *Config) { c.Rate = 0 }, "--rate 0"},
		"negative rate":      {func(c *Config) { c.Rate = -1 }, "--rate -1"},
		"zero duration":      {func(c *Config) { c.Duration = 0 }, "--duration 0s"},
		"negative duration":  {func(c *Config) { c.Duration = -time.Second }, "--duration -1s"},
		"no order at all":    {func(c *Config) { c.Rate, c.Duration, c.Sample, c.WarmUp = 0.5, time.Second, time.Second, 0 }, "places no order"},
		"zero sample":        {func(c *Config) { c.Sample = 0 }, "--sample 0s"},
		"sample > duration":  {func(c *Config) { c.Sample = 2 * time.Minute }, "--sample 2m0s is longer than --duration 1m0s"},
		"warm-up = duration": {func(c *Config) { c.WarmUp = time.Minute }, "--warmup 1m0s"},
		"negative retention": {func(c *Config) { c.Retention = -time.Hour }, "--retention -1h0m0s"},
		"negative interval":  {func(c *Config) { c.PruneInterval = -time.Second }, "--prune-interval -1s"},
	} {
		c := good
		tt.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s (%+v): Validate() = %v, want an error containing %q", name, c, err, tt.want)
		}
	}
}

func TestWindowAndInterval(t *testing.T) {
	var w Window
	t0 := time.Unix(1000, 0)
	// 100 orders with latencies 1..100 ms, added out of order.
	for i := 100; i >= 1; i-- {
		w.Add(t0, t0.Add(time.Duration(i)*time.Millisecond))
	}
	lat := w.Take()
	if len(lat) != 100 || lat[0] != time.Millisecond || lat[99] != 100*time.Millisecond {
		t.Fatalf("Take() = %d latencies from %v to %v, want 100 sorted from 1ms to 100ms", len(lat), lat[0], lat[len(lat)-1])
	}
	if again := w.Take(); len(again) != 0 {
		t.Fatalf("second Take() = %v, want a new, empty window", again)
	}
	var s Sample
	s.Interval(lat, 10*time.Second)
	if s.EndedPerSecond != 10 || s.P50Millis != 50 || s.P99Millis != 99 {
		t.Errorf("Interval: %.1f/s p50 %v p99 %v, want 10/s p50 50 p99 99", s.EndedPerSecond, s.P50Millis, s.P99Millis)
	}
	// An interval where nothing ended has no latency (not the last one's).
	s.Interval(nil, 10*time.Second)
	if s.EndedPerSecond != 0 || s.P50Millis != 0 || s.P99Millis != 0 {
		t.Errorf("empty interval: %+v", s)
	}
}

func TestTrends(t *testing.T) {
	const mb = 1 << 20
	var samples []Sample
	// 10 minutes, a sample a minute: order's database grows by 1 MB a
	// minute until minute 3, then stays at 4 MB; its memory climbs 2 MB a
	// minute throughout; p99 is always 80 ms.
	for m := 0; m <= 10; m++ {
		db := int64(min(m+1, 4)) * mb
		samples = append(samples, Sample{Seconds: float64(60 * m), EndedPerSecond: 10, P50Millis: 20, P99Millis: 80, PlaneRSS: 100 * mb,
			Functions: map[string]Function{"order": {DBBytes: db, RSSBytes: int64(30+2*m) * mb}}})
	}
	// The drain after the placing and the final sample do not count.
	samples = append(samples, Sample{Seconds: 630, PlaneRSS: 500 * mb, Functions: map[string]Function{"order": {DBBytes: 50 * mb, RSSBytes: 90 * mb}}},
		Sample{Seconds: 631, Final: true, EndedPerSecond: 10, P99Millis: 9000, PlaneRSS: 500 * mb})
	trends, err := Trends(samples, 3*time.Minute, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Trend{}
	for _, tr := range trends {
		got[tr.Series] = tr
	}
	check := func(series string, warm, end, perMinute, change float64) {
		t.Helper()
		tr, ok := got[series]
		if !ok {
			t.Fatalf("no trend %q in %+v", series, trends)
		}
		if !near(tr.WarmUp, warm) || !near(tr.End, end) || !near(tr.PerMinute, perMinute) || !near(tr.ChangePercent, change) {
			t.Errorf("%s: %+v, want warm-up %v end %v per minute %v change %v%%", series, tr, warm, end, perMinute, change)
		}
	}
	check("order db MB", 4, 4, 0, 0)
	check("order rss MB", 36, 50, 2, 100*14.0/36)
	check("p99 ms", 80, 80, 0, 0)
	check("plane rss MB", 100, 100, 0, 0)
	if got["order rss MB"].Max != 50 {
		t.Errorf("order rss max %v, want 50 (the drain's 90 left out)", got["order rss MB"].Max)
	}

	if _, err := Trends(samples[:3], 3*time.Minute, 10*time.Minute); err == nil {
		t.Error("Trends with no sample past the warm-up: no error")
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSumCounter(t *testing.T) {
	exposition := `# HELP orderflow_store_pruned_rows_total Rows deleted past ORDERFLOW_RETENTION.
# TYPE orderflow_store_pruned_rows_total counter
orderflow_store_pruned_rows_total{function="order",table="outbox"} 1200
orderflow_store_pruned_rows_total{function="order",table="processed_events"} 3000
orderflow_store_pruned_rows_total_created{function="order",table="outbox"} 1.7e+09
orderflow_other_total 5
`
	got, err := SumCounter(strings.NewReader(exposition), prunedMetric)
	if err != nil || got != 4200 {
		t.Fatalf("SumCounter = %d, %v; want 4200 (the two tables, not the _created series nor another metric)", got, err)
	}
	if got, err := SumCounter(strings.NewReader("orderflow_other_total 5\n"), prunedMetric); err != nil || got != 0 {
		t.Errorf("not exposed yet: %d, %v; want 0", got, err)
	}
	if _, err := SumCounter(strings.NewReader(prunedMetric+`{table="outbox"} many`+"\n"), prunedMetric); err == nil {
		t.Error("a value that is not a number: no error")
	}
}

func TestDatabaseBytesAndTables(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// payment keeps its gateway's ledger beside its own database.
	for _, file := range []string{"payment", "payment-gateway", "order"} {
		db, err := store.Open(ctx, "test", "sqlite://"+filepath.Join(dir, file+".db"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `CREATE TABLE processed_events (id TEXT PRIMARY KEY, body TEXT)`); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 500; i++ {
			if _, err := db.Exec(ctx, `INSERT INTO processed_events VALUES (?, ?)`, file+strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), strings.Repeat("y", 200)); err != nil {
				t.Fatal(err)
			}
		}
		if file == "payment" {
			if _, err := db.Exec(ctx, `DELETE FROM processed_events WHERE rowid > 100`); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
	}
	files, err := DatabaseFiles(dir, "payment")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var want int64
	for _, f := range files {
		names = append(names, filepath.Base(f))
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		want += fi.Size()
	}
	var databases []string
	for _, n := range names {
		if !strings.HasSuffix(n, "-wal") {
			databases = append(databases, n)
		}
	}
	if strings.Join(databases, " ") != "payment-gateway.db payment.db" {
		t.Errorf("payment's files: %v, want payment.db and payment-gateway.db (and their WALs), not order's", names)
	}
	got, err := DatabaseBytes(dir, "payment")
	if err != nil || got != want || got <= 0 {
		t.Errorf("DatabaseBytes(payment) = %d, %v; want %d, the sum of its files", got, err, want)
	}
	if _, err := DatabaseBytes(dir, "notify"); err == nil || !strings.Contains(err.Error(), "no notify.db") {
		t.Errorf("DatabaseBytes of a function with no file: %v, want an error naming notify.db", err)
	}

	tables, err := Tables(ctx, dir, "payment")
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string]map[string]Table{}
	for _, tb := range tables {
		if byFile[tb.File] == nil {
			byFile[tb.File] = map[string]Table{}
		}
		byFile[tb.File][tb.Name] = tb
	}
	if got := byFile["payment.db"]["processed_events"]; got.Rows != 100 || got.Bytes <= 0 {
		t.Errorf("payment.db processed_events: %+v, want 100 rows (400 deleted) and its bytes", got)
	}
	if got := byFile["payment-gateway.db"]["processed_events"]; got.Rows != 500 {
		t.Errorf("payment-gateway.db processed_events: %+v, want 500 rows", got)
	}
	if free := byFile["payment.db"]["(free pages)"]; free.Rows <= 0 || free.Bytes <= 0 {
		t.Errorf("payment.db: free pages %+v, want the deleted rows' pages kept for reuse", free)
	}
}

func TestLine(t *testing.T) {
	line := Line(Sample{Seconds: 120, Placed: 2400, Ended: 2390, EndedPerSecond: 20, P50Millis: 25, P99Millis: 140, PlaneRSS: 200 << 20,
		Functions: map[string]Function{
			"order":     {DBBytes: 12 << 20, RSSBytes: 40 << 20, PrunedRows: 7000},
			"analytics": {DBBytes: 3 << 20, RSSBytes: 35 << 20, Errors: []string{"rss: gone"}},
		}})
	for _, want := range []string{"120s placed 2400 ended 2390 (20.0/s) p50 25ms p99 140ms", "plane 200MB",
		"analytics db 3.0MB rss 35MB (rss: gone) | order db 12.0MB rss 40MB pruned 7000"} {
		if !strings.Contains(line, want) {
			t.Errorf("Line = %q, want it to contain %q", line, want)
		}
	}
}

func TestPlotWritesAPicture(t *testing.T) {
	var r Results
	for i := 0; i < 5; i++ {
		r.Samples = append(r.Samples, Sample{Seconds: float64(10 * i), EndedPerSecond: 5, P50Millis: 20, P99Millis: 90, PlaneRSS: 80 << 20,
			Functions: map[string]Function{"order": {DBBytes: 4 << 20, RSSBytes: 30 << 20}, "notify": {DBBytes: 2 << 20, RSSBytes: 25 << 20}}})
	}
	path := filepath.Join(t.TempDir(), "soak.png")
	if err := Plot(r, 0.2, 0.6, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Fatalf("%s: %v, starts %q", path, err, b[:min(8, len(b))])
	}
	if err := Plot(Results{}, 0, 1, path); err == nil {
		t.Error("Plot of no sample: no error")
	}
}
