package manifests

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	ok := []struct {
		in   string
		want time.Duration
	}{
		{"PT0.2S", 200 * time.Millisecond},
		{"PT0.3S", 300 * time.Millisecond},
		{"PT10S", 10 * time.Second},
		{"PT600S", 600 * time.Second},
		{"PT1M", time.Minute},
		{"PT1H30M", 90 * time.Minute},
		{"PT1H30M15.5S", time.Hour + 30*time.Minute + 15500*time.Millisecond},
		{"P1D", 24 * time.Hour},
		{"P1DT12H", 36 * time.Hour},
		{"P2W", 14 * 24 * time.Hour},
		{"PT1.5M", 90 * time.Second},
		{"PT0,25S", 250 * time.Millisecond},
		{"PT.5S", 500 * time.Millisecond},
		{"PT0S", 0},
		{"PT0.000000001S", time.Nanosecond},
		{"PT0.0000000019S", time.Nanosecond}, // finer than ns is dropped
		{"pt2s", 2 * time.Second},
	}
	for _, c := range ok {
		got, err := ParseDuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := []struct{ in, msg string }{
		{"", "empty"},
		{"10S", "must start with P"},
		{"300ms", "must start with P"},
		{"P", "no components after P"},
		{"PT", "T must be followed"},
		{"P1Y", "years have no fixed length"},
		{"P1M", "months have no fixed length"},
		{"-PT1S", "signed durations"},
		{"PT1S1M", "out of order"},
		{"P1H", "not allowed in the date part"},
		{"PT1D", "not allowed in the time part"},
		{"PT1.5M2S", "only the last component may have a fraction"},
		{"PT5", "has no unit"},
		{"PT1.S", "decimal point must be followed by digits"},
		{"PTS", "expected a number"},
		{"PT1STT", "T appears twice"},
		{"PT99999999999999999999S", "too"},
		{"P200000W", "too long"},
	}
	for _, c := range bad {
		_, err := ParseDuration(c.in)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseDuration(%q) error = %v; want it to mention %q", c.in, err, c.msg)
		}
		if err != nil && !strings.Contains(err.Error(), `"`+c.in+`"`) {
			t.Errorf("error %q does not quote the input", err)
		}
	}
}

func TestFormatDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, 300 * time.Millisecond, 10 * time.Second, 90 * time.Minute, 26*time.Hour + 1500*time.Millisecond} {
		s := FormatDuration(d)
		back, err := ParseDuration(s)
		if err != nil || back != d {
			t.Errorf("%v -> %q -> %v, %v", d, s, back, err)
		}
	}
}
