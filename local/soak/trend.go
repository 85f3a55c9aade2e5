package soak

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"orderflow.dev/shared/store"
)

// Trend is one measured series from the end of the warm-up to the end of
// the placing: flat is a small Change and a slope near zero.
type Trend struct {
	Series string  `json:"series"` // "order db MB", "order rss MB", "plane rss MB", "p99 ms"
	WarmUp float64 `json:"atWarmUp"`
	End    float64 `json:"atEnd"`
	Max    float64 `json:"max"`
	// ChangePercent is (End - WarmUp) / WarmUp.
	ChangePercent float64 `json:"changePercent"`
	// PerMinute is the least-squares slope over the samples between the
	// two, in the series' unit per minute.
	PerMinute float64 `json:"perMinute"`
	// Minutes is how long after the warm-up the series was measured.
	Minutes float64 `json:"minutes"`
	// FirstMinute and LastMinute are the series' means over the first and
	// the last minute of those: what Flat compares, rather than two single
	// samples, because a pruned table is a saw-tooth (a prune interval of
	// rows comes in, the prune takes it out) and two single samples can
	// land on a tooth's foot and on its tip.
	FirstMinute float64 `json:"firstMinuteMean"`
	LastMinute  float64 `json:"lastMinuteMean"`
}

// FlatWithin is how far a series may move after the warm-up and still be
// called flat: a tenth of its mean over the first minute after the
// warm-up, both from that mean to the mean of the last minute and along
// its fitted line over the same minutes. A tenth is
// coarser than the sampling noise of a table's pages (a b-tree grows and
// reuses pages in steps) and finer than any growth that lasts: a series
// growing a tenth in 7 minutes doubles in about an hour.
const FlatWithin = 0.10

// Flat says whether the series stayed within FlatWithin of its level
// after the warm-up.
func (t Trend) Flat() bool {
	limit := FlatWithin * math.Abs(t.FirstMinute)
	return math.Abs(t.LastMinute-t.FirstMinute) <= limit && math.Abs(t.PerMinute*t.Minutes) <= limit
}

// minuteMeans are the means of ys over the first and the last minute of
// xs (minutes, ascending).
func minuteMeans(xs, ys []float64) (first, last float64) {
	var nf, nl float64
	for i, x := range xs {
		if x <= xs[0]+1 {
			first, nf = first+ys[i], nf+1
		}
		if x >= xs[len(xs)-1]-1 {
			last, nl = last+ys[i], nl+1
		}
	}
	return first / nf, last / nl
}

// Trends works out, for every series, how it moved between the first
// sample at or past warmUp and the last one taken while orders were still
// being placed, before placingFor. A sample at placingFor or later is the
// run's end: the drain, the final sample, and the invariant check, which
// asks the functions for everything at once (payment's whole ledger) while
// such a sample may be reading them. It needs two samples in the window.
func Trends(samples []Sample, warmUp, placingFor time.Duration) ([]Trend, error) {
	var steady []Sample
	for _, s := range samples {
		if !s.Final && s.Seconds >= warmUp.Seconds() && s.Seconds < placingFor.Seconds() {
			steady = append(steady, s)
		}
	}
	if len(steady) < 2 {
		return nil, fmt.Errorf("%d samples between the warm-up (%s) and the end of placing (%s): need 2; sample more often or warm up for less", len(steady), warmUp, placingFor)
	}
	const mb = 1 << 20
	series := map[string]func(Sample) (float64, bool){
		"plane rss MB": func(s Sample) (float64, bool) { return float64(s.PlaneRSS) / mb, s.PlaneRSS > 0 },
		"load generator rss MB": func(s Sample) (float64, bool) {
			return float64(s.HarnessRSS) / mb, s.HarnessRSS > 0
		},
		"p99 ms": func(s Sample) (float64, bool) { return s.P99Millis, s.EndedPerSecond > 0 },
		"p50 ms": func(s Sample) (float64, bool) { return s.P50Millis, s.EndedPerSecond > 0 },
	}
	const kb = 1 << 10
	allTables := func(s Sample) bool {
		for _, f := range s.Functions {
			if len(f.Tables) == 0 {
				return false
			}
		}
		return len(s.Functions) > 0
	}
	series[AllFunctions+" bookkeeping MB"] = func(s Sample) (float64, bool) {
		var total int64
		for _, f := range s.Functions {
			total += f.BookkeepingBytes
		}
		return float64(total) / mb, allTables(s)
	}
	series[AllFunctions+" domain MB"] = func(s Sample) (float64, bool) {
		var total int64
		for _, f := range s.Functions {
			total += f.DomainBytes
		}
		return float64(total) / mb, allTables(s)
	}
	series[AllFunctions+" domain KB/order"] = func(s Sample) (float64, bool) {
		var perOrder float64
		for _, f := range s.Functions {
			perOrder += f.DomainBytesPerOrder
		}
		return perOrder / kb, allTables(s) && perOrder > 0
	}
	for name := range steady[len(steady)-1].Functions {
		series[name+" bookkeeping MB"] = func(s Sample) (float64, bool) {
			f, ok := s.Functions[name]
			return float64(f.BookkeepingBytes) / mb, ok && len(f.Tables) > 0
		}
		series[name+" domain MB"] = func(s Sample) (float64, bool) {
			f, ok := s.Functions[name]
			return float64(f.DomainBytes) / mb, ok && len(f.Tables) > 0
		}
		series[name+" domain KB/order"] = func(s Sample) (float64, bool) {
			f, ok := s.Functions[name]
			return f.DomainBytesPerOrder / kb, ok && len(f.Tables) > 0 && f.DomainBytesPerOrder > 0
		}
		series[name+" db MB"] = func(s Sample) (float64, bool) {
			f, ok := s.Functions[name]
			return float64(f.DBBytes) / mb, ok && f.DBBytes > 0
		}
		series[name+" rss MB"] = func(s Sample) (float64, bool) {
			f, ok := s.Functions[name]
			return float64(f.RSSBytes) / mb, ok && f.RSSBytes > 0
		}
	}
	var out []Trend
	for name, value := range series {
		var xs, ys []float64
		for _, s := range steady {
			if v, ok := value(s); ok {
				xs, ys = append(xs, s.Seconds/60), append(ys, v)
			}
		}
		if len(ys) < 2 {
			continue // never measured (an interval with no order ended has no p99)
		}
		t := Trend{Series: name, WarmUp: ys[0], End: ys[len(ys)-1], PerMinute: slope(xs, ys), Minutes: xs[len(xs)-1] - xs[0]}
		t.FirstMinute, t.LastMinute = minuteMeans(xs, ys)
		for _, y := range ys {
			t.Max = max(t.Max, y)
		}
		if t.WarmUp != 0 {
			t.ChangePercent = 100 * (t.End - t.WarmUp) / t.WarmUp
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Series < out[j].Series })
	return out, nil
}

// AllFunctions names the series that add up every function.
const AllFunctions = "all functions"

// Verdict is one sentence of the soak's summary about a function's
// database (or AllFunctions'): Flat is the verdict, Says the figures.
type Verdict struct {
	Of     string `json:"of"`   // a function, or AllFunctions
	Part   string `json:"part"` // "bookkeeping" or "domain per order"
	Flat   bool   `json:"flat"`
	Says   string `json:"says"`
	Series string `json:"series"`
}

// Verdicts judges, from the trends, each function's bookkeeping after the
// warm-up (flat is what pruning promises) and its domain per order (flat
// per order is a total growing in step with the orders, nothing more),
// the functions by name and AllFunctions last.
func Verdicts(trends []Trend) []Verdict {
	byName := map[string]Trend{}
	var names []string
	for _, t := range trends {
		byName[t.Series] = t
		if of, ok := strings.CutSuffix(t.Series, " bookkeeping MB"); ok && of != AllFunctions {
			names = append(names, of)
		}
	}
	sort.Strings(names)
	var out []Verdict
	for _, of := range append(names, AllFunctions) {
		if t, ok := byName[of+" bookkeeping MB"]; ok {
			v := Verdict{Of: of, Part: "bookkeeping", Flat: t.Flat(), Series: t.Series}
			v.Says = fmt.Sprintf("%s bookkeeping (%s, indexes included): %.2f MB at the warm-up, %.2f MB at the end, %+.1f %% (first and last minute's means %.2f and %.2f MB, %+.3f MB a minute over %.1f minutes, max %.2f MB): %s",
				of, bookkeepingNames(), t.WarmUp, t.End, t.ChangePercent, t.FirstMinute, t.LastMinute, t.PerMinute, t.Minutes, t.Max, flatWord(v.Flat))
			out = append(out, v)
		}
		if t, ok := byName[of+" domain KB/order"]; ok {
			v := Verdict{Of: of, Part: "domain per order", Flat: t.Flat(), Series: t.Series}
			v.Says = fmt.Sprintf("%s domain tables: %.2f KB per ended order at the warm-up, %.2f KB at the end, %+.1f %%: %s",
				of, t.WarmUp, t.End, t.ChangePercent, flatWord(v.Flat))
			if v.Flat {
				v.Says += " per order, so the total grows in step with the orders"
			} else {
				v.Says += " per order: the total does not grow in step with the orders"
			}
			if total, ok := byName[of+" domain MB"]; ok {
				v.Says += fmt.Sprintf(" (%.1f -> %.1f MB, %+.2f MB a minute)", total.WarmUp, total.End, total.PerMinute)
			}
			out = append(out, v)
		}
	}
	// Memory: each function's resident size and the plane's, judged as
	// the bookkeeping is (the load generator's is reported, not judged: it
	// keeps every order for the final check by design).
	for _, of := range append(names, PlaneProcess) {
		if t, ok := byName[of+" rss MB"]; ok {
			v := Verdict{Of: of, Part: "memory", Flat: t.Flat(), Series: t.Series}
			v.Says = fmt.Sprintf("%s resident memory: %.1f MB at the warm-up, %.1f MB at the end, %+.1f %% (first and last minute's means %.1f and %.1f MB, %+.2f MB a minute over %.1f minutes, max %.1f MB): %s",
				of, t.WarmUp, t.End, t.ChangePercent, t.FirstMinute, t.LastMinute, t.PerMinute, t.Minutes, t.Max, flatWord(v.Flat))
			out = append(out, v)
		}
	}
	return out
}

// PlaneProcess names the plane in trends and verdicts.
const PlaneProcess = "plane"

func flatWord(flat bool) string {
	if flat {
		return "flat"
	}
	return fmt.Sprintf("NOT flat (moved more than %.0f %%)", 100*FlatWithin)
}

func bookkeepingNames() string {
	names := make([]string, 0, len(BookkeepingTables))
	for n := range BookkeepingTables {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, " + ")
}

// slope is the least-squares line's through (xs, ys); 0 when every x is
// the same.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// Table is one table of a function's database after the run: its rows
// and the bytes its pages (its indexes' included) take in the file.
type Table struct {
	File  string `json:"file"`
	Name  string `json:"name"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Tables reads every table of a function's databases in dir, largest
// first, plus a row per file for its free pages (name "(free pages)"):
// what pruning deleted and SQLite keeps for reuse rather than shrinking the
// file. Only once the function stopped: a running one locks its file.
func Tables(ctx context.Context, dir, function string) ([]Table, error) {
	files, err := DatabaseFiles(dir, function)
	if err != nil {
		return nil, err
	}
	var out []Table
	for _, path := range files {
		if strings.HasSuffix(path, "-wal") {
			continue
		}
		tables, err := fileTables(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, tables...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Bytes > out[j].Bytes })
	return out, nil
}

func fileTables(ctx context.Context, path string) ([]Table, error) {
	db, err := store.Open(ctx, "soak table sizes", "sqlite://"+path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	file := filepath.Base(path)
	// dbstat names every b-tree, an index by its own name: sqlite_schema
	// says whose it is.
	rows, err := db.Query(ctx, `SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat s JOIN sqlite_schema m ON m.name = s.name
		WHERE m.tbl_name NOT LIKE 'sqlite_%' GROUP BY m.tbl_name`)
	if err != nil {
		return nil, err
	}
	var out []Table
	for rows.Next() {
		t := Table{File: file}
		if err := rows.Scan(&t.Name, &t.Bytes); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		// The name comes from the file's own schema, quoted as an identifier.
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM "`+strings.ReplaceAll(out[i].Name, `"`, `""`)+`"`).Scan(&out[i].Rows); err != nil {
			return nil, err
		}
	}
	free := Table{File: file, Name: "(free pages)"}
	var pageSize int64
	if err := db.QueryRow(ctx, `SELECT freelist_count, page_size FROM pragma_freelist_count, pragma_page_size`).Scan(&free.Rows, &pageSize); err != nil {
		return nil, err
	}
	free.Bytes = free.Rows * pageSize
	return append(out, free), nil
}
