package handler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/store/storetest"
)

// Past the retention, processed ids and published events go; what is
// recent still answers a redelivery as a duplicate.
func TestPruneForgetsOnlyWhatIsPastTheRetention(t *testing.T) {
	p := newProbe()
	h := handlertest.Start(t, p, map[string]string{"ORDERFLOW_RETENTION": "2h"})
	old := handlertest.Event(t, events.PlaceOrder, placeData("o-old"), nil)
	recent := handlertest.Event(t, events.PlaceOrder, placeData("o-recent"), nil)
	h.Send(t, old)
	h.Send(t, recent)
	h.Flush(t)
	// Age the first delivery and what it published by three hours.
	db := p.App().DB()
	ctx := context.Background()
	threeHours := int64(3 * time.Hour / time.Millisecond)
	if _, err := db.Exec(ctx, `UPDATE processed_events SET processed_at = processed_at - ? WHERE event_id = ?`, threeHours, old.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE outbox SET sent_at = sent_at - ? WHERE seq = (SELECT MIN(seq) FROM outbox)`, threeHours); err != nil {
		t.Fatal(err)
	}
	ids, sent, err := p.App().Prune(ctx)
	if ids != 1 || sent != 1 || err != nil {
		t.Fatalf("pruned %d ids and %d published events (%v), want the old one of each", ids, sent, err)
	}
	if got := scrape(t, h.URL)[`orderflow_store_pruned_rows_total{function="probe",table="processed_events"}`]; got != 1 {
		t.Errorf("orderflow_store_pruned_rows_total for processed_events = %v, want 1", got)
	}
	before := p.seen.Load()
	h.Send(t, recent)
	if p.seen.Load() != before {
		t.Error("a redelivery inside the retention was handled again")
	}
}

func TestRetentionShorterThanAnHourIsRefused(t *testing.T) {
	sink := handlertest.NewSink(t)
	for _, value := range []string{"30m", "0", "-1h", "a week"} {
		t.Run(value, func(t *testing.T) {
			err := startProbeWith(t, sink.URL, map[string]string{"ORDERFLOW_RETENTION": value})
			if err == nil || !strings.Contains(err.Error(), "ORDERFLOW_RETENTION") {
				t.Fatalf("ORDERFLOW_RETENTION=%s: %v, want an error naming it", value, err)
			}
		})
	}
}

// ORDERFLOW_ALLOW_SHORT_RETENTION (soaks, tests) lowers the floor to
// MinShortRetention and no further; without it 30m stays refused (above).
func TestShortRetentionNeedsItsSettingAndHasAFloor(t *testing.T) {
	sink := handlertest.NewSink(t)
	for _, c := range []struct {
		retention string
		ok        bool
	}{{"2m", true}, {"30m", true}, {"119s", false}, {"1s", false}} {
		t.Run(c.retention, func(t *testing.T) {
			err := startProbeWith(t, sink.URL, map[string]string{"ORDERFLOW_RETENTION": c.retention, "ORDERFLOW_ALLOW_SHORT_RETENTION": "true"})
			if c.ok && err != nil {
				t.Fatalf("ORDERFLOW_RETENTION=%s with the short setting: %v, want accepted", c.retention, err)
			}
			if !c.ok && (err == nil || !strings.Contains(err.Error(), "ORDERFLOW_ALLOW_SHORT_RETENTION")) {
				t.Fatalf("ORDERFLOW_RETENTION=%s with the short setting: %v, want refused naming the setting", c.retention, err)
			}
		})
	}
}

// Pruning back to back would only hold the store's writer: the interval
// has a floor, and a value below it is refused naming the setting.
func TestPruneIntervalHasAFloor(t *testing.T) {
	sink := handlertest.NewSink(t)
	for _, c := range []struct {
		interval string
		ok       bool
	}{{"1s", true}, {"10m", true}, {"999ms", false}, {"1ns", false}, {"0", false}, {"-1m", false}} {
		t.Run(c.interval, func(t *testing.T) {
			err := startProbeWith(t, sink.URL, map[string]string{"ORDERFLOW_PRUNE_INTERVAL": c.interval})
			if c.ok != (err == nil) || (err != nil && (!strings.Contains(err.Error(), "ORDERFLOW_PRUNE_INTERVAL=") || !strings.Contains(err.Error(), "want at least 1s"))) {
				t.Fatalf("ORDERFLOW_PRUNE_INTERVAL=%s: %v, want accepted %v", c.interval, err, c.ok)
			}
		})
	}
}

func TestRelayIntervalHasAFloor(t *testing.T) {
	sink := handlertest.NewSink(t)
	for _, c := range []struct {
		interval string
		ok       bool
	}{{"10ms", true}, {"1s", true}, {"1ms", false}, {"0", false}} {
		t.Run(c.interval, func(t *testing.T) {
			err := startProbeWith(t, sink.URL, map[string]string{"ORDERFLOW_RELAY_INTERVAL": c.interval})
			if c.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "ORDERFLOW_RELAY_INTERVAL=")) {
				t.Fatalf("ORDERFLOW_RELAY_INTERVAL=%s: %v, want accepted %v", c.interval, err, c.ok)
			}
		})
	}
}

// startProbeWith starts the probe function with env set (its sink and a
// fresh store besides), stops it again if it started, and returns what
// Start said: how each configuration test reads the function's answer.
func startProbeWith(t *testing.T, sinkURL string, env map[string]string) error {
	t.Helper()
	t.Setenv("K_SINK", sinkURL)
	t.Setenv("ORDERFLOW_DATABASE_URL", storetest.URL(t, "probe"))
	for k, v := range env {
		t.Setenv(k, v)
	}
	app := newProbe().App()
	err := app.Start(context.Background())
	if err == nil {
		_ = app.Stop(context.Background())
	}
	return err
}
