package account

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"orderflow.dev/shared/store"
)

// Prometheus sums counters of a registry by metric name (over every label
// set), under the names given: e.g. http_events_sent_total as "KafkaSource
// deliveries (HTTP POST to a function)".
type Prometheus struct {
	Name     string
	Gatherer prometheus.Gatherer
	// Counters maps a metric name to the name the account shows.
	Counters map[string]string
	// SplitBy names, for some metrics, a label whose values get a line
	// each ("deliveries (outcome=ignored)").
	SplitBy map[string]string
}

func (p Prometheus) Layer() string    { return p.Name }
func (Prometheus) Lag() time.Duration { return 0 }

func (p Prometheus) Read(context.Context) (map[string]float64, error) {
	families, err := p.Gatherer.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, f := range families {
		shown, ok := p.Counters[f.GetName()]
		if !ok {
			continue
		}
		split := p.SplitBy[f.GetName()]
		for _, m := range f.GetMetric() {
			name := shown
			if split != "" {
				for _, l := range m.GetLabel() {
					if l.GetName() == split {
						name = fmt.Sprintf("%s (%s=%s)", shown, split, l.GetValue())
					}
				}
			}
			switch {
			case m.GetCounter() != nil:
				out[name] += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[name] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out, nil
}

// Scrape gathers the /metrics pages at urls (base URLs, "/metrics" is
// added) as one, as Prometheus would scrape every replica of a Service.
func Scrape(hc *http.Client, urls ...string) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		var out []*dto.MetricFamily
		for _, u := range urls {
			res, err := hc.Get(u + "/metrics")
			if err != nil {
				return nil, err
			}
			if res.StatusCode != http.StatusOK {
				res.Body.Close()
				return nil, fmt.Errorf("%s/metrics: HTTP %d", u, res.StatusCode)
			}
			parser := expfmt.NewTextParser(model.UTF8Validation)
			fams, err := parser.TextToMetricFamilies(io.LimitReader(res.Body, 8<<20))
			res.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("%s/metrics: %w", u, err)
			}
			for _, f := range fams {
				out = append(out, f)
			}
		}
		return out, nil
	})
}

// Func is a source read by a function.
type Func struct {
	Name string
	Fn   func() map[string]float64
}

func (f Func) Layer() string                                    { return f.Name }
func (Func) Lag() time.Duration                                 { return 0 }
func (f Func) Read(context.Context) (map[string]float64, error) { return f.Fn(), nil }

// Postgres reads a PostgreSQL server's statistics for the database db is
// connected to: transactions (pg_stat_database), WAL records, writes and
// syncs (pg_stat_wal) and, where the pg_stat_statements extension is
// installed in that database, every statement's calls (BEGIN, COMMIT and
// savepoints sent in a pipeline are not among them; the functions count
// their round trips themselves, orderflow_store_round_trips_total).
type Postgres struct {
	DB *store.DB
}

func (Postgres) Layer() string { return "postgres" }

// Lag: PostgreSQL 15 flushes a backend's statistics at most once a second
// while busy and after 10 s idle.
func (Postgres) Lag() time.Duration { return 11 * time.Second }

func (p Postgres) Read(ctx context.Context) (map[string]float64, error) {
	out := map[string]float64{}
	var commits, rollbacks, inserted, updated, deleted, returned float64
	if err := p.DB.QueryRow(ctx, `SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_returned
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&commits, &rollbacks, &inserted, &updated, &deleted, &returned); err != nil {
		return nil, fmt.Errorf("pg_stat_database: %w", err)
	}
	out["transactions committed"] = commits
	out["transactions rolled back"] = rollbacks
	out["rows inserted"] = inserted
	out["rows updated"] = updated
	out["rows deleted"] = deleted
	var records, fpi, bytes, writes, syncs float64
	if err := p.DB.QueryRow(ctx, `SELECT wal_records, wal_fpi, wal_bytes, wal_write, wal_sync FROM pg_stat_wal`).Scan(&records, &fpi, &bytes, &writes, &syncs); err != nil {
		return nil, fmt.Errorf("pg_stat_wal: %w", err)
	}
	out["WAL records"] = records
	out["WAL bytes"] = bytes
	out["WAL writes"] = writes
	out["WAL syncs (fsync of the WAL)"] = syncs
	var have bool
	if err := p.DB.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')`).Scan(&have); err != nil {
		return nil, fmt.Errorf("pg_extension: %w", err)
	}
	if !have {
		return out, nil
	}
	rows, err := p.DB.Query(ctx, `SELECT query, sum(calls) FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) GROUP BY query`)
	if err != nil {
		return nil, fmt.Errorf("pg_stat_statements: %w", err)
	}
	defer rows.Close()
	var total float64
	for rows.Next() {
		var q sql.NullString
		var calls float64
		if err := rows.Scan(&q, &calls); err != nil {
			return nil, err
		}
		total += calls
		out["statement: "+q.String] += calls
	}
	out["statements (pg_stat_statements)"] = total
	return out, rows.Err()
}
