package profile

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func TestParseResident(t *testing.T) {
	status := "Name:\torderflow-fn\nVmPeak:\t  900000 kB\nVmRSS:\t   43210 kB\nRssAnon:\t   30000 kB\n"
	got, err := ParseResident(bufio.NewScanner(strings.NewReader(status)), 7)
	if err != nil || got != 43210*1024 {
		t.Fatalf("ParseResident = %d, %v; want %d", got, err, 43210*1024)
	}
	for name, bad := range map[string]string{
		"no VmRSS (kernel thread)": "Name:\tkthreadd\nState:\tS\n",
		"not a number":             "VmRSS:\t lots kB\n",
		"another unit":             "VmRSS:\t 12 MB\n",
		"negative":                 "VmRSS:\t -5 kB\n",
	} {
		if got, err := ParseResident(bufio.NewScanner(strings.NewReader(bad)), 7); err == nil || !strings.Contains(err.Error(), "/proc/7/status") {
			t.Errorf("%s: ParseResident = %d, %v; want an error naming /proc/7/status", name, got, err)
		}
	}
}

// The test's own process holds some memory: a live read is positive.
func TestResidentBytesOfThisProcess(t *testing.T) {
	got, err := ResidentBytes(os.Getpid())
	if err != nil || got <= 0 {
		t.Fatalf("ResidentBytes(self) = %d, %v; want > 0", got, err)
	}
	if _, err := ResidentBytes(-1); err == nil {
		t.Error("ResidentBytes(-1): no error")
	}
}
