package manifests

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// ParseSchedule reads a PingSource schedule: standard five-field cron
// (minute hour day-of-month month day-of-week) or a descriptor such as
// @hourly, in timezone (an IANA name; "" is UTC).
func ParseSchedule(schedule, timezone string) (cron.Schedule, error) {
	if timezone != "" {
		if _, err := time.LoadLocation(timezone); err != nil {
			return nil, fmt.Errorf("timezone %q: %v", timezone, err)
		}
		schedule = "CRON_TZ=" + timezone + " " + schedule
	}
	s, err := cron.ParseStandard(schedule)
	if err != nil {
		return nil, fmt.Errorf("%q is not a five-field cron schedule: %v", schedule, err)
	}
	return s, nil
}
