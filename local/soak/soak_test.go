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
		"zero rate":           {func(c *Config) { c.Rate = 0 }, "--rate 0"},
		"negative rate":       {func(c *Config) { c.Rate = -1 }, "--rate -1"},
		"zero duration":       {func(c *Config) { c.Duration = 0 }, "--duration 0s"},
		"negative duration":   {func(c *Config) { c.Duration = -time.Second }, "--duration -1s"},
		"no order at all":     {func(c *Config) { c.Rate, c.Duration, c.Sample, c.WarmUp = 0.5, time.Second, time.Second, 0 }, "places no order"},
		"zero sample":         {func(c *Config) { c.Sample = 0 }, "--sample 0s"},
		"sample > duration":   {func(c *Config) { c.Sample = 2 * time.Minute }, "--sample 2m0s is longer than --duration 1m0s"},
		"warm-up = duration":  {func(c *Config) { c.WarmUp = time.Minute }, "--warmup 1m0s"},
		"negative retention":  {func(c *Config) { c.Retention = -time.Hour }, "--retention -1h0m0s"},
		"negative interval":   {func(c *Config) { c.PruneInterval = -time.Second }, "--prune-interval -1s"},
		"prune back to back":  {func(c *Config) { c.PruneInterval = time.Millisecond }, "--prune-interval 1ms: want at least 1s"},
		"sample back to back": {func(c *Config) { c.Sample = time.Nanosecond }, "--sample 1ns: want at least 100ms"},
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
	// Its bookkeeping tables fill up to 3 MB by minute 3 and stay there;
	// its domain takes 1 KB per order, 600 orders a minute; notify's
	// bookkeeping is never pruned: 1 MB more every minute.
	for m := 0; m <= 10; m++ {
		db := int64(min(m+1, 4)) * mb
		ended := 600 * m
		order := Function{DBBytes: db, RSSBytes: int64(30+2*m) * mb, Tables: []Table{
			{Name: "processed_events", Bytes: int64(min(m, 3)) * mb / 3}, {Name: "outbox", Bytes: int64(min(m, 3)) * mb / 3 * 2},
			{Name: "order_events", Bytes: int64(ended) * 1024}, {Name: FreePages, Bytes: 4096}}}
		order.BookkeepingBytes, order.DomainBytes, order.FreeBytes = Split(order.Tables)
		order.PerOrder(ended)
		notify := Function{DBBytes: db, RSSBytes: 30 * mb, Tables: []Table{{Name: "processed_events", Bytes: int64(m+1) * mb}, {Name: "notifications", Bytes: int64(ended) * 512}}}
		notify.BookkeepingBytes, notify.DomainBytes, notify.FreeBytes = Split(notify.Tables)
		notify.PerOrder(ended)
		samples = append(samples, Sample{Seconds: float64(60 * m), EndedPerSecond: 10, P50Millis: 20, P99Millis: 80, PlaneRSS: 100 * mb,
			Functions: map[string]Function{"order": order, "notify": notify}})
	}
	// The drain after the placing and the final sample do not count.
	samples = append(samples, Sample{Seconds: 630, PlaneRSS: 500 * mb, Functions: map[string]Function{"order": {DBBytes: 50 * mb, RSSBytes: 90 * mb}}},
		Sample{Seconds: 631, Final: true, EndedPerSecond: 10, P99Millis: 9000, PlaneRSS: 500 * mb})
	// Placing lasts 10.5 minutes here: the sample at minute 10 is inside it,
	// the drain's at 630 s is not.
	trends, err := Trends(samples, 3*time.Minute, 10*time.Minute+30*time.Second)
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
	check("order bookkeeping MB", 3, 3, 0, 0)
	check("order domain KB/order", 1, 1, 0, 0)
	check("order domain MB", 1800.0/1024, 6000.0/1024, 600.0/1024, 100*4200.0/1800)
	check("notify bookkeeping MB", 4, 11, 1, 175)
	check("all functions domain KB/order", 1.5, 1.5, 0, 0)
	if tr := got["order bookkeeping MB"]; !tr.Flat() || tr.Minutes != 7 {
		t.Errorf("order bookkeeping: %+v, want flat over 7 minutes", tr)
	}
	if tr := got["notify bookkeeping MB"]; tr.Flat() {
		t.Errorf("notify bookkeeping grows 1 MB a minute from 4 MB: %+v called flat", tr)
	}

	verdicts := map[string]Verdict{}
	for _, v := range Verdicts(trends) {
		verdicts[v.Of+" "+v.Part] = v
	}
	for key, want := range map[string]struct {
		flat bool
		says string
	}{
		"order bookkeeping":              {true, "order bookkeeping (outbox + processed_events, indexes included): 3.00 MB at the warm-up, 3.00 MB at the end, +0.0 %"},
		"notify bookkeeping":             {false, "4.00 MB at the warm-up, 11.00 MB at the end, +175.0 % (first and last minute's means 4.50 and 10.50 MB, +1.000 MB a minute over 7.0 minutes, max 11.00 MB): NOT flat"},
		"all functions bookkeeping":      {false, "all functions bookkeeping"},
		"order domain per order":         {true, "order domain tables: 1.00 KB per ended order at the warm-up, 1.00 KB at the end, +0.0 %: flat per order, so the total grows in step with the orders (1.8 -> 5.9 MB, +0.59 MB a minute)"},
		"all functions domain per order": {true, "all functions domain tables: 1.50 KB per ended order"},
		"notify domain per order":        {true, "notify domain tables: 0.50 KB"},
		"order memory":                   {false, "order resident memory: 36.0 MB at the warm-up, 50.0 MB at the end, +38.9 % (first and last minute's means 37.0 and 49.0 MB, +2.00 MB a minute over 7.0 minutes, max 50.0 MB): NOT flat"},
		"plane memory":                   {true, "plane resident memory: 100.0 MB at the warm-up, 100.0 MB at the end, +0.0 %"},
	} {
		v, ok := verdicts[key]
		if !ok || v.Flat != want.flat || !strings.Contains(v.Says, want.says) {
			t.Errorf("verdict %q: %+v (present %v), want flat %v saying %q", key, v, ok, want.flat, want.says)
		}
	}
	if len(verdicts) != 9 {
		t.Errorf("%d verdicts, want bookkeeping and domain of order, notify and all, memory of order, notify and the plane: %v", len(verdicts), verdicts)
	}
	if got["order rss MB"].Max != 50 {
		t.Errorf("order rss max %v, want 50 (the drain's 90 left out)", got["order rss MB"].Max)
	}

	for _, tt := range []struct {
		t    Trend
		want bool
	}{
		{Trend{FirstMinute: 10, LastMinute: 10.9, PerMinute: 0.1, Minutes: 7}, true},
		{Trend{FirstMinute: 10, LastMinute: 11.1, PerMinute: 0.1, Minutes: 7}, false}, // last minute past a tenth
		{Trend{FirstMinute: 10, LastMinute: 10, PerMinute: 0.2, Minutes: 7}, false},   // its line climbs 1.4 in 7 minutes
		{Trend{FirstMinute: 10, LastMinute: 9.5, PerMinute: -0.1, Minutes: 7}, true},
	} {
		if got := tt.t.Flat(); got != tt.want {
			t.Errorf("%+v: Flat = %v, want %v", tt.t, got, tt.want)
		}
	}

	// A pruned table is a saw-tooth: 3 MB after each prune, 3.5 MB just
	// before the next, every 30 s, sampled every 10 s. Its warm-up sample
	// falls on a foot and its last on a tip (+16.7 %), yet it is flat: its
	// minute means and its line hold still.
	var saw []Sample
	for i := 0; i <= 41; i++ { // 180 s to 590 s
		mb3 := 3 + 0.25*float64(i%3)
		saw = append(saw, Sample{Seconds: float64(180 + 10*i), Functions: map[string]Function{"order": {BookkeepingBytes: int64(mb3 * mb), Tables: []Table{{Name: "outbox", Bytes: int64(mb3 * mb)}}}}})
	}
	if trends, err := Trends(saw, 3*time.Minute, 10*time.Minute); err != nil {
		t.Fatal(err)
	} else {
		found := false
		for _, tr := range trends {
			if tr.Series == "order bookkeeping MB" {
				found = true
				if !tr.Flat() || tr.End <= tr.WarmUp*1.1 {
					t.Errorf("saw-tooth bookkeeping: %+v, want flat although its end (a tip) is over a tenth above its warm-up (a foot)", tr)
				}
			}
		}
		if !found {
			t.Errorf("no order bookkeeping trend in %+v", trends)
		}
	}

	// A sample taken at the end of the placing (the tick at placingFor) is
	// the run's end: its readings may meet the invariant check's queries.
	atEnd := []Sample{{Seconds: 180, PlaneRSS: 100 * mb}, {Seconds: 300, PlaneRSS: 100 * mb}, {Seconds: 600, PlaneRSS: 160 * mb}}
	if trends, err := Trends(atEnd, 3*time.Minute, 10*time.Minute); err != nil {
		t.Fatal(err)
	} else {
		for _, tr := range trends {
			if tr.Series == "plane rss MB" && (tr.End != 100 || tr.Minutes != 2) {
				t.Errorf("plane rss with a sample at the end of the placing: %+v, want it left out (end 100 MB at minute 5)", tr)
			}
		}
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
			"order": {DBBytes: 12 << 20, RSSBytes: 40 << 20, PrunedRows: 7000, Tables: []Table{{Name: "outbox"}},
				BookkeepingBytes: 7 << 20, DomainBytesPerOrder: 2150},
			"analytics": {DBBytes: 3 << 20, RSSBytes: 35 << 20, Errors: []string{"rss: gone"}},
		}})
	for _, want := range []string{"120s placed 2400 ended 2390 (20.0/s) p50 25ms p99 140ms", "plane 200MB",
		"analytics db 3.0MB rss 35MB (rss: gone) | order db 12.0MB rss 40MB pruned 7000 bookkeeping 7.0MB domain 2.10KB/order"} {
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
