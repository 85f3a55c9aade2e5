package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSoakReportOptionsValidate(t *testing.T) {
	good := flagDefaults(&SoakReportOptions{}, (*SoakReportOptions).addFlags)
	good.Path = "results.json"
	testValidate(t, good, (*SoakReportOptions).Validate, []validateCase[SoakReportOptions]{
		{"the run's own warm-up", func(*SoakReportOptions) {}, ""},
		{"warmup 0", func(o *SoakReportOptions) { o.WarmUp, o.WarmUpGiven = 0, true }, ""},
		{"warmup negative", func(o *SoakReportOptions) { o.WarmUp, o.WarmUpGiven = -time.Minute, true }, "--warmup -1m0s: must not be negative"},
	})
}

// A --warmup past the run's placing is refused once the file says how
// long that was.
func TestSoakReportRefusesAWarmUpPastThePlacing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(path, []byte(`{"duration":"10m0s","warmup":"2m0s","samples":[{}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	o := SoakReportOptions{Path: path, WarmUp: 10 * time.Minute, WarmUpGiven: true}
	if err := o.Complete(); err == nil || err.Error() != "--warmup 10m0s: must be at least 0 and shorter than the run's 10m0s" {
		t.Errorf("warm-up as long as the placing: %v", err)
	}
	o = SoakReportOptions{Path: path}
	if err := o.Complete(); err != nil || o.WarmUp != 2*time.Minute || o.placing != 10*time.Minute {
		t.Errorf("the run's own warm-up: %v, warm-up %s, placing %s", err, o.WarmUp, o.placing)
	}
}
