package ce

import (
	"strings"
	"testing"
)

func TestChildTraceparent(t *testing.T) {
	parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	child := ChildTraceparent(parent)
	if !strings.HasPrefix(child, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasSuffix(child, "-01") || child == parent {
		t.Fatalf("child %s", child)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		fresh := ChildTraceparent(bad)
		if TraceID(fresh) == "" || strings.Contains(fresh, "4bf92f") {
			t.Errorf("from %q: %s", bad, fresh)
		}
	}
}

func TestNewSenderRejectsBadTargets(t *testing.T) {
	for _, target := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		if _, err := NewSender("K_SINK", target); err == nil || !strings.Contains(err.Error(), "K_SINK") {
			t.Errorf("%q: %v", target, err)
		}
	}
}
