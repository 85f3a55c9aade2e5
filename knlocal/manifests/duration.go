package manifests

import (
	"fmt"
	"math"
	"time"

	"github.com/rickb777/date/period"
)

// checkDuration is how Knative's webhook checks a delivery duration
// (knative.dev/eventing v0.50.0 DeliverySpec.Validate: period.Parse,
// normalised), with the ISO-8601 library eventing-kafka-broker v0.50.1
// builds with (github.com/rickb777/date v1.14.1).
func checkDuration(s string) error {
	if _, err := period.Parse(s); err != nil {
		return fmt.Errorf("%q is not an ISO-8601 duration Knative takes: %v", s, err)
	}
	return nil
}

// ParseDuration reads a delivery duration (backoffDelay, timeout) exactly
// as a cluster does: the webhook's check, then the Kafka control plane's
// reading (core/config DurationMillisFromISO8601String: period.Parse not
// normalised, Duration, absolute value in whole milliseconds). So PT0.25S
// is 200 ms (the library keeps one decimal), -PT10S is 10 s, P1M is a
// twelfth of 365.2425 days, and PT3600S is refused: unnormalised it
// overflows the library's seconds field, the control plane fails and the
// source would never become ready.
func ParseDuration(s string) (time.Duration, error) {
	if err := checkDuration(s); err != nil {
		return 0, err
	}
	p, err := period.Parse(s, false)
	if err != nil {
		return 0, fmt.Errorf("%q: Knative's Kafka control plane cannot read it, so the source would never become ready: %v", s, err)
	}
	d, _ := p.Duration()
	return time.Duration(math.Abs(float64(d.Milliseconds()))) * time.Millisecond, nil
}
