package door

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::1": true, "[::1]": true, "localhost": true, "LocalHost": true, "::ffff:127.0.0.1": true,
		"": false, "0.0.0.0": false, "::": false, "10.1.2.3": false, "192.168.0.1": false, "example.org": false, "localhost.example.org": false,
	} {
		if got := Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestRequireRefusesWithoutAndWithAWrongToken(t *testing.T) {
	open := func(r *http.Request) bool { return r.URL.Path == "/healthz" }
	h := Require("s3cret", open, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "inside") }))
	for _, c := range []struct {
		path, auth string
		want       int
		says       string
	}{
		{"/x", "", 401, "needs a bearer token"},
		{"/x", "Bearer wrong", 401, "wrong or malformed token"},
		{"/x", "Bearer s3cre", 401, "wrong"},   // a prefix is not the token
		{"/x", "Bearer s3cretX", 401, "wrong"}, // nor is a longer one
		{"/x", "Basic s3cret", 401, "wrong"},
		{"/x", "s3cret", 401, "wrong"},
		{"/x", "Bearer ", 401, "wrong"},
		{"/x", "Bearer s3cret", 200, "inside"},
		{"/healthz", "", 200, "inside"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != c.want || !strings.Contains(rec.Body.String(), c.says) {
			t.Fatalf("%s with %q: %d %s, want %d saying %q", c.path, c.auth, rec.Code, rec.Body, c.want, c.says)
		}
		if c.want == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("%q: WWW-Authenticate %q, want a Bearer challenge", c.auth, rec.Header().Get("WWW-Authenticate"))
		}
	}
	// No token at all opens nothing.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("Authorization", "Bearer ")
	Require("", nil, http.NotFoundHandler()).ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("empty token, empty bearer: %d, want 401", rec.Code)
	}
}

func TestTokenFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := NewToken()
	if err != nil || len(tok) != 32 {
		t.Fatalf("NewToken = %q %v, want 32 hex digits", tok, err)
	}
	if other, _ := NewToken(); other == tok {
		t.Fatal("two tokens alike")
	}
	if err := WriteFile(path, tok); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v %v, want 0600 (it was 0644 before)", fi.Mode(), err)
	}
	if got, err := ReadFile(path); err != nil || got != tok {
		t.Fatalf("ReadFile = %q %v", got, err)
	}
	for name, content := range map[string]string{"empty": "\n", "spaced": "a b\n"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := ReadFile(p); err == nil {
			t.Errorf("ReadFile(%s) accepted %q", name, content)
		}
	}
	t.Setenv(EnvToken, "")
	if got, err := ClientToken(filepath.Join(dir, "missing")); got != "" || err != nil {
		t.Fatalf("ClientToken of a missing file = %q %v, want none (enough for loopback)", got, err)
	}
	if got, _ := ClientToken(path); got != tok {
		t.Fatalf("ClientToken(file) = %q", got)
	}
	t.Setenv(EnvToken, "from-env")
	if got, _ := ClientToken(path); got != "from-env" {
		t.Fatalf("ClientToken with %s set = %q, want it to win", EnvToken, got)
	}
}

// The token goes to the plane's doors only, never to another host (a dead
// letter's destination is whatever its event said).
func TestTransportSendsTheTokenToTheDoorsAlone(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	for _, hosts := range [][]string{{HostOf(srv.URL)}, {"127.0.0.1:1"}} {
		c := &http.Client{Transport: Transport{Token: "s3cret", Hosts: hosts}}
		res, err := c.Get(srv.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	if len(seen) != 2 || seen[0] != "Bearer s3cret" || seen[1] != "" {
		t.Fatalf("Authorization seen %q, want the token at the door and nothing elsewhere", seen)
	}
}
