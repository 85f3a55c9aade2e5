package fnserve

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orderflow.dev/local/scaffold"
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

// pprof on an address other machines reach is refused unless a token
// file is given; then it answers only with that token.
func TestDebugServerBeyondLoopbackWantsAToken(t *testing.T) {
	if _, _, err := debugServer("0.0.0.0:0", ""); err == nil || !strings.Contains(err.Error(), DebugTokenFileEnv) {
		t.Fatalf("debugServer without a token file = %v, want a refusal naming %s", err, DebugTokenFileEnv)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := debugServer("0.0.0.0:0", empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("debugServer with an empty token file = %v, want a refusal", err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, h, err := debugServer("0.0.0.0:0", tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	lo, open, err := debugServer("127.0.0.1:0", "")
	if err != nil || open != http.DefaultServeMux {
		t.Fatalf("debugServer on loopback without a token file: %v, want pprof served as it is", err)
	}
	lo.Close()
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	url := "http://127.0.0.1:" + port + "/debug/pprof/cmdline"
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer s3cret", 200}} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Fatalf("GET %s with %q: %d %s, want %d", url, c.auth, res.StatusCode, body, c.want)
		}
		if c.want == 401 && (!strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(string(body), "token")) {
			t.Fatalf("401 with WWW-Authenticate %q and body %s: want a Bearer challenge and a clear body", res.Header.Get("WWW-Authenticate"), body)
		}
	}
}

// The host holds exactly the functions of functions/: a folder added or
// removed by hand without regenerating registry.go fails here, not as a
// function the plane cannot start.
func TestRegistryIsFunctionsFolder(t *testing.T) {
	root := filepath.Join("..", "..")
	want, err := scaffold.Registry(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, scaffold.RegistryFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is not what functions/* gives: run go generate ./local/fnserve\n--- want\n%s", scaffold.RegistryFile, want)
	}
	fns, err := scaffold.Functions(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		if _, err := App(f.Name); err != nil {
			t.Errorf("%s: %v", f.Name, err)
		}
	}
	if _, err := App("nosuchfn"); err == nil || !strings.Contains(err.Error(), "rebuild") {
		t.Errorf("unknown function: %v, want an error saying to rebuild", err)
	}
}
