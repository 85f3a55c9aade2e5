package gctune

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	noCgroup := &fs.PathError{Op: "open", Path: CgroupMemoryMax, Err: fs.ErrNotExist}
	cases := []struct {
		name           string
		gogc, memlimit string
		cgroup         string
		cgroupErr      error
		percent        int
		limit          int64
		whyHas         string
	}{
		{"nothing set, no cgroup", "", "", "", noCgroup, Percent, 0, "no memory limit (no cgroup memory.max)"},
		{"nothing set, cgroup without a limit", "", "", "max\n", nil, Percent, 0, `cgroup memory.max "max"`},
		{"nothing set, a 512 MiB container", "", "", "536870912\n", nil, Percent, 483183820, "memory limit 460 MiB (90 % of the cgroup's memory.max, 512 MiB)"},
		{"GOGC set wins", "50", "", "536870912", nil, -1, 483183820, "GOGC=50 (environment)"},
		{"GOGC negative (collection off) set wins", "-1", "", "", noCgroup, -1, 0, "GOGC=-1 (environment)"},
		{"GOGC=off set wins", "off", "", "", noCgroup, -1, 0, "GOGC=off (environment)"},
		{"GOMEMLIMIT set wins over the cgroup", "", "200MiB", "536870912", nil, Percent, 0, "GOMEMLIMIT=200MiB (environment)"},
		{"garbage in memory.max is no limit", "", "", "lots", nil, Percent, 0, `cgroup memory.max "lots"`},
		{"zero in memory.max is no limit", "", "", "0", nil, Percent, 0, `cgroup memory.max "0"`},
		{"unreadable cgroup", "", "", "", errors.New("permission denied"), Percent, 0, "no memory limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Plan(c.gogc, c.memlimit, []byte(c.cgroup), c.cgroupErr)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if got.GCPercent != c.percent || got.MemoryLimit != c.limit {
				t.Errorf("Plan = percent %d, limit %d; want %d, %d", got.GCPercent, got.MemoryLimit, c.percent, c.limit)
			}
			if !strings.Contains(got.Why, c.whyHas) {
				t.Errorf("Why %q, want it to say %q", got.Why, c.whyHas)
			}
		})
	}
}

// A GOGC Go's runtime would quietly replace with 100 is refused, named.
func TestPlanRefusesAMalformedGOGC(t *testing.T) {
	for _, bad := range []string{"abc", "400%", " 400", "4e2", "OFF", "99999999999", "1.5"} {
		_, err := Plan(bad, "", nil, fs.ErrNotExist)
		if err == nil || !strings.Contains(err.Error(), "GOGC=") || !strings.Contains(err.Error(), bad) {
			t.Errorf("Plan(GOGC=%q) error %v, want one naming GOGC and the value", bad, err)
		}
	}
}
