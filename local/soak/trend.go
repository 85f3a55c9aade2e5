package soak

import (
	"context"
	"fmt"
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
}

// Trends works out, for every series, how it moved between the first
// sample at or past warmUp and the last one taken while orders were
// placed (by placingFor, give or take the tick's lateness; later ones are
// the drain, and the final sample is left out). It needs two such samples.
func Trends(samples []Sample, warmUp, placingFor time.Duration) ([]Trend, error) {
	var steady []Sample
	for _, s := range samples {
		if !s.Final && s.Seconds >= warmUp.Seconds() && s.Seconds <= placingFor.Seconds()+0.5 {
			steady = append(steady, s)
		}
	}
	if len(steady) < 2 {
		return nil, fmt.Errorf("%d samples between the warm-up (%s) and the end of placing (%s): need 2; sample more often or warm up for less", len(steady), warmUp, placingFor)
	}
	const mb = 1 << 20
	series := map[string]func(Sample) (float64, bool){
		"plane rss MB": func(s Sample) (float64, bool) { return float64(s.PlaneRSS) / mb, s.PlaneRSS > 0 },
		"p99 ms":       func(s Sample) (float64, bool) { return s.P99Millis, s.EndedPerSecond > 0 },
		"p50 ms":       func(s Sample) (float64, bool) { return s.P50Millis, s.EndedPerSecond > 0 },
	}
	for name := range steady[len(steady)-1].Functions {
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
		t := Trend{Series: name, WarmUp: ys[0], End: ys[len(ys)-1], PerMinute: slope(xs, ys)}
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
