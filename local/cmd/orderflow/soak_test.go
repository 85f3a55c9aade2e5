package main

import (
	"testing"
	"time"

	"orderflow.dev/local/soak"
)

func TestSoakOptionsValidate(t *testing.T) {
	good := SoakOptions{Config: soak.Config{Duration: 10 * time.Minute, Rate: 20, Sample: 10 * time.Second}, Concurrency: 16}
	testValidate(t, good, (*SoakOptions).Validate, []validateCase[SoakOptions]{
		{"defaults", func(*SoakOptions) {}, ""},
		{"duration 0", func(o *SoakOptions) { o.Config.Duration = 0 }, "--duration 0s: must be positive"},
		{"rate 0", func(o *SoakOptions) { o.Config.Rate = 0 }, "--rate 0: must be positive (orders per second)"},
		{"no order placed", func(o *SoakOptions) { o.Config.Rate, o.Config.Duration = 0.5, time.Second },
			"--rate 0.5 for --duration 1s places no order: want rate x duration of at least 1"},
		{"sample 0", func(o *SoakOptions) { o.Config.Sample = 0 }, "--sample 0s: must be positive"},
		{"sample longer than duration", func(o *SoakOptions) { o.Config.Sample = time.Hour },
			"--sample 1h0m0s is longer than --duration 10m0s: the soak would end before its first sample"},
		// Not given, the warm-up is a fifth of --duration, whatever the
		// field holds; given, even as 0, it is taken as it is.
		{"warmup not given", func(o *SoakOptions) { o.Config.WarmUp = time.Hour }, ""},
		{"warmup 0 given", func(o *SoakOptions) { o.WarmUpGiven = true }, ""},
		{"warmup as long as duration", func(o *SoakOptions) { o.Config.WarmUp, o.WarmUpGiven = 10*time.Minute, true },
			"--warmup 10m0s: must be at least 0 and shorter than --duration 10m0s"},
		{"warmup negative", func(o *SoakOptions) { o.Config.WarmUp, o.WarmUpGiven = -time.Second, true },
			"--warmup -1s: must be at least 0 and shorter than --duration 10m0s"},
		{"retention negative", func(o *SoakOptions) { o.Config.Retention = -time.Minute }, "--retention -1m0s: must not be negative (0 keeps the functions' default)"},
		{"retention too short", func(o *SoakOptions) { o.Config.Retention = time.Minute },
			"--retention 1m0s: must be at least 2m0s, longer than a KafkaSource's retries of a delivery"},
		{"short retention", func(o *SoakOptions) { o.Config.Retention = 2 * time.Minute }, ""},
		{"prune interval negative", func(o *SoakOptions) { o.Config.PruneInterval = -time.Second }, "--prune-interval -1s: must not be negative (0 keeps the functions' default)"},
		{"concurrency 0", func(o *SoakOptions) { o.Concurrency = 0 }, "--concurrency 0: must be at least 1"},
	})
}

// --warmup's default is a fifth of --duration, unless it is given (0
// too).
func TestSoakWarmUpDefault(t *testing.T) {
	o := SoakOptions{Config: soak.Config{Duration: 10 * time.Minute, WarmUp: 0}}
	if got := o.config().WarmUp; got != 2*time.Minute {
		t.Errorf("warm-up not given: %s, want 2m0s", got)
	}
	o.WarmUpGiven = true
	if got := o.config().WarmUp; got != 0 {
		t.Errorf("--warmup 0 given: %s, want 0s", got)
	}
}
