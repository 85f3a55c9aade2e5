package manifests

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// ParseDuration parses an ISO-8601 duration as Knative's delivery fields
// take it: P[nW][nD][T[nH][nM][nS]], e.g. PT0.2S, PT10S, PT1M, PT1H30M, P1D.
//
// The last component may carry a decimal fraction (PT0.3S, PT1.5M; '.' or
// ','). Years and months are refused: they have no fixed length, and a
// delivery timeout that depends on the calendar is surely a mistake.
// Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	bad := func(format string, a ...any) (time.Duration, error) {
		return 0, fmt.Errorf("invalid ISO-8601 duration %q: %s", s, fmt.Sprintf(format, a...))
	}
	if s == "" {
		return bad("empty")
	}
	if s[0] == '-' || s[0] == '+' {
		return bad("signed durations are not supported")
	}
	if s[0] != 'P' && s[0] != 'p' {
		return bad("must start with P (e.g. PT10S)")
	}
	rest := s[1:]
	if rest == "" {
		return bad("no components after P")
	}

	// Units in the order ISO-8601 requires; the index keeps them ordered.
	type unit struct {
		letter byte
		time   bool // after T
		d      time.Duration
	}
	units := []unit{
		{'Y', false, 0}, {'M', false, 0}, {'W', false, 7 * 24 * time.Hour}, {'D', false, 24 * time.Hour},
		{'H', true, time.Hour}, {'M', true, time.Minute}, {'S', true, time.Second},
	}

	var total time.Duration
	inTime := false
	next := 0 // index into units of the smallest unit still allowed
	components := 0
	lastHadFraction := false
	for len(rest) > 0 {
		if rest[0] == 'T' || rest[0] == 't' {
			if inTime {
				return bad("T appears twice")
			}
			inTime = true
			rest = rest[1:]
			if rest == "" {
				return bad("T must be followed by hours, minutes or seconds")
			}
			continue
		}
		// number: digits, optional fraction
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		intPart := rest[:i]
		frac := ""
		if i < len(rest) && (rest[i] == '.' || rest[i] == ',') {
			j := i + 1
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			frac = rest[i+1 : j]
			if frac == "" {
				return bad("a decimal point must be followed by digits")
			}
			i = j
		}
		if intPart == "" && frac == "" {
			return bad("expected a number at %q", rest)
		}
		if i >= len(rest) {
			return bad("number %q has no unit", rest)
		}
		letter := rest[i] &^ 0x20 // upper-case ASCII
		rest = rest[i+1:]
		if lastHadFraction {
			return bad("only the last component may have a fraction")
		}
		idx := -1
		for k := next; k < len(units); k++ {
			if units[k].letter == letter && units[k].time == inTime {
				idx = k
				break
			}
		}
		if idx < 0 {
			where := "date part (before T): use W or D"
			if inTime {
				where = "time part (after T): use H, M or S"
			}
			return bad("unit %q is out of order or not allowed in the %s", string(letter), where)
		}
		if units[idx].d == 0 {
			name := map[byte]string{'Y': "years", 'M': "months"}[letter]
			return bad("%s have no fixed length; use days (D) or smaller units", name)
		}
		next = idx + 1
		components++
		n, err := componentNanos(intPart, frac, units[idx].d)
		if err != nil {
			return bad("%v", err)
		}
		if total > math.MaxInt64-n {
			return bad("too long")
		}
		total += n
		lastHadFraction = frac != ""
	}
	if components == 0 {
		return bad("no components")
	}
	return total, nil
}

// componentNanos is the value of one component: whole units plus a
// fraction of up to 9 digits (finer digits are dropped), in exact integer
// arithmetic. Every unit allowed is a whole number of seconds, so a fraction
// of it is a whole number of nanoseconds at 9 digits.
func componentNanos(intPart, frac string, unit time.Duration) (time.Duration, error) {
	var whole int64
	for _, c := range intPart {
		if whole > (math.MaxInt64-9)/10 {
			return 0, fmt.Errorf("number too large")
		}
		whole = whole*10 + int64(c-'0')
	}
	if whole > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("too long")
	}
	n := time.Duration(whole) * unit
	if len(frac) > 9 {
		frac = frac[:9]
	}
	var f int64
	for _, c := range frac {
		f = f*10 + int64(c-'0')
	}
	for i := len(frac); i < 9; i++ {
		f *= 10
	}
	// f is the fraction in units of 1e-9; unit/1e9 is whole seconds.
	fn := time.Duration(f) * (unit / time.Second)
	if n > math.MaxInt64-fn {
		return 0, fmt.Errorf("too long")
	}
	return n + fn, nil
}

// FormatDuration renders d as an ISO-8601 duration (PT…S), the inverse of
// ParseDuration for messages and round trips.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteString("PT")
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		d -= m * time.Minute
	}
	if d > 0 {
		s := fmt.Sprintf("%.9f", d.Seconds())
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		b.WriteString(s + "S")
	}
	return b.String()
}
