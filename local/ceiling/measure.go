package ceiling

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"orderflow.dev/shared/store"
)

// Rate is one primitive measured.
type Rate struct {
	Primitive   Primitive `json:"primitive"`
	Ops         int64     `json:"ops"`
	Seconds     float64   `json:"seconds"`
	Concurrency int       `json:"concurrency"`
}

// PerSecond is the measured rate.
func (r Rate) PerSecond() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Seconds
}

// Progress hears how a measurement goes, about twice a second; nil for
// silence.
type Progress func(p Primitive, elapsed time.Duration, ops int64)

// progressEvery is how often a measurement reports.
const progressEvery = 500 * time.Millisecond

// reportProgress calls progress with the count so far, about twice a
// second, until the returned stop is called; stop returns once progress is
// no longer called, so the caller may make the last call itself.
func reportProgress(p Primitive, start time.Time, ops *atomic.Int64, progress Progress) (stop func()) {
	if progress == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				progress(p, time.Since(start), ops.Load())
			}
		}
	}()
	return func() { close(quit); <-done }
}

// saturate runs op from workers goroutines at once for a warm-up of d/3,
// uncounted (connections open, statements are prepared, a JVM broker
// compiles its hot paths: none of which a running topology pays per
// order), then counts the calls for d. The first error ends it.
func saturate(ctx context.Context, p Primitive, d time.Duration, workers int, progress Progress, op func(ctx context.Context, worker int, n int64) error) (Rate, error) {
	if workers < 1 {
		return Rate{}, fmt.Errorf("ceiling: %s: %d workers", p, workers)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var calls, ops atomic.Int64
	var counting, stopping atomic.Bool
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopping.Load() && ctx.Err() == nil {
				if err := op(ctx, w, calls.Add(1)); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				if counting.Load() {
					ops.Add(1)
				}
			}
		}()
	}
	var start time.Time
	stopReporting := func() {}
	select {
	case <-time.After(d / 3):
		start = time.Now()
		counting.Store(true)
		stopReporting = reportProgress(p, start, &ops, progress)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	stopping.Store(true)
	wg.Wait()
	stopReporting()
	elapsed := time.Since(start)
	if firstErr != nil {
		return Rate{}, fmt.Errorf("ceiling: %s: %w", p, firstErr)
	}
	if err := ctx.Err(); err != nil {
		return Rate{}, err
	}
	r := Rate{Primitive: p, Ops: ops.Load(), Seconds: elapsed.Seconds(), Concurrency: workers}
	if progress != nil {
		progress(p, elapsed, r.Ops)
	}
	return r, nil
}

// An event the size of the saga's: binary mode, its attributes in headers.
var (
	sampleEvent   = []byte(`{"orderId":"ceiling-0000000000","customerId":"c-42","lines":[{"sku":"sku-tee","quantity":2,"unitPrice":1500}],"total":3000,"currency":"EUR"}`)
	sampleHeaders = http.Header{
		"Ce-Specversion":  {"1.0"},
		"Ce-Id":           {"ceiling"},
		"Ce-Source":       {"/orderflow/ceiling"},
		"Ce-Type":         {"dev.orderflow.ceiling.v1"},
		"Ce-Partitionkey": {"ceiling-0000000000"},
		"Content-Type":    {"application/json"},
	}
)

// MeasureHTTP measures no-op HTTP round trips: concurrency clients POST a
// small binary CloudEvent to a server on loopback that reads it and
// answers 200, over keep-alive connections (one per client, as a
// KafkaSource keeps to each subscriber).
func MeasureHTTP(ctx context.Context, d time.Duration, concurrency int, progress Progress) (Rate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Rate{}, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + "/"
	return saturate(ctx, HTTPRoundTrip, d, concurrency, progress, func(ctx context.Context, _ int, _ int64) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(sampleEvent))
		if err != nil {
			return err
		}
		req.Header = sampleHeaders.Clone()
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("no-op server answered %d", resp.StatusCode)
		}
		return nil
	})
}

// Database is one store the transactions run on, and how many run on it
// at once.
type Database struct {
	Name    string // labels it in errors
	URL     string
	Workers int
}

// scratchTable takes the INSERTs; it is the databases' only table.
const scratchTable = `CREATE TABLE IF NOT EXISTS ceiling_scratch (id {{autoinc}}, worker INTEGER NOT NULL, n INTEGER NOT NULL)`

// MeasureStore measures write transactions (BEGIN, one INSERT, COMMIT)
// through shared/store, so with the functions' own settings: on SQLite one
// connection per database, WAL, synchronous NORMAL, BEGIN IMMEDIATE; on
// PostgreSQL the functions' pool. Every database takes its own workers at
// once, as every function writes its own database.
func MeasureStore(ctx context.Context, dbs []Database, d time.Duration, progress Progress) (Rate, error) {
	var byWorker []*store.DB
	for _, target := range dbs {
		db, err := store.Open(ctx, target.Name, target.URL)
		if err != nil {
			return Rate{}, err
		}
		defer db.Close()
		if _, err := db.Exec(ctx, scratchTable); err != nil {
			return Rate{}, fmt.Errorf("ceiling: %s: %w", db, err)
		}
		for range target.Workers {
			byWorker = append(byWorker, db)
		}
	}
	if len(byWorker) == 0 {
		return Rate{}, errors.New("ceiling: no database to measure")
	}
	const insert = `INSERT INTO ceiling_scratch (worker, n) VALUES (?, ?)`
	return saturate(ctx, StoreTransaction, d, len(byWorker), progress, func(ctx context.Context, worker int, n int64) error {
		return byWorker[worker].InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, insert, worker, n)
			return err
		})
	})
}
