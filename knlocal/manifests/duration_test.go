package manifests

import (
	"strings"
	"testing"
	"time"
)

// Delivery durations as a cluster reads them. The milliseconds are those
// Knative's own code computes (webhook check, then eventing-kafka-broker's
// DurationMillisFromISO8601String); deploy/validate's
// TestDurationsAsKnativeReadsThem calls that code on the same inputs.
func TestParseDuration(t *testing.T) {
	const refused = -1
	for _, c := range []struct {
		in string
		ms int64
	}{
		{"PT0.2S", 200},
		{"PT0.3S", 300},
		{"PT0.25S", 200}, // one decimal is kept
		{"PT0.05S", 0},
		{"PT0,5S", 500},
		{"PT1.S", 1000},
		{"PT10S", 10_000},
		{"PT600S", 600_000},
		{"PT3276.7S", 3_276_700},
		{"PT3276.8S", refused}, // the seconds field overflows unnormalised
		{"PT3600S", refused},
		{"PT1M", 60_000},
		{"PT1.5M", 90_000},
		{"PT1H30M15.5S", 5_415_500},
		{"PT1S1M", 61_000}, // order is not checked
		{"PT1.5M2S", 92_000},
		{"P1D", 86_400_000},
		{"P2W", 1_209_600_000},
		{"P1M", 2_629_746_000}, // a twelfth of 365.2425 days
		{"P1Y2M3DT4H5M6.7S", 37_090_350_700},
		{"PT0S", 0},
		{"P0", 0},
		{"-PT10S", 10_000}, // the absolute value
		{"+PT10S", 10_000},
		{"", refused},
		{"P", refused},
		{"PT", refused},
		{"10S", refused},
		{"300ms", refused},
		{"pt2s", refused},
		{"PT.5S", refused},
		{"PT5", refused},
		{"PT1D", refused},
		{"P1H", refused},
		{"PT1STT", refused},
		{"P200000W", refused},
		{"PT99999999999999999999S", refused},
	} {
		got, err := ParseDuration(c.in)
		switch {
		case c.ms == refused && err == nil:
			t.Errorf("%q = %v, want refused", c.in, got)
		case c.ms == refused && !strings.Contains(err.Error(), `"`+c.in+`"`):
			t.Errorf("%q: error %q does not quote the input", c.in, err)
		case c.ms != refused && (err != nil || got != time.Duration(c.ms)*time.Millisecond):
			t.Errorf("%q = %v, %v; want %d ms", c.in, got, err, c.ms)
		}
	}
}
