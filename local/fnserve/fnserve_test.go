package fnserve

import (
	"strings"
	"testing"
)

func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr string // empty: accepted
	}{
		{"127.0.0.1:6060", ""},
		{"127.3.4.5:6060", ""},
		{"[::1]:6060", ""},
		{"localhost:6060", ""},
		{"LOCALHOST:0", ""},
		{"[::ffff:127.0.0.1]:6060", ""},
		{"[::1%lo]:6060", ""},
		{":6060", "no host"},
		{"0.0.0.0:6060", "not a loopback address"},
		{"[::]:6060", "not a loopback address"},
		{"10.0.0.5:6060", "not a loopback address"},
		{"192.168.1.2:6060", "not a loopback address"},
		{"[::ffff:10.0.0.1]:6060", "not a loopback address"},
		{"128.0.0.1:6060", "not a loopback address"},
		{"example.com:6060", "neither localhost nor an IP address"},
		{"localhost.example.com:6060", "neither localhost nor an IP address"},
		{"127.0.0.1", "want a loopback host:port"},
		{"", "want a loopback host:port"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			err := loopbackOnly(tc.addr)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("loopbackOnly(%q) = %v, want accepted", tc.addr, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("loopbackOnly(%q) = %v, want an error containing %q", tc.addr, err, tc.wantErr)
			}
		})
	}
}

func TestListenDebugNamesTheVariable(t *testing.T) {
	_, err := listenDebug("0.0.0.0:0")
	if err == nil || !strings.Contains(err.Error(), DebugAddrEnv+`="0.0.0.0:0"`) {
		t.Fatalf("listenDebug = %v, want an error naming %s and its value", err, DebugAddrEnv)
	}
	ln, err := listenDebug("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}
