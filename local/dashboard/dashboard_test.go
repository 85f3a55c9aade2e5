package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The requests below are all refused before anything of a running plane
// is needed, so a mux without one serves them.
func testServer(t *testing.T) (*httptest.Server, *Dashboard) {
	t.Helper()
	d, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	d.mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, d
}

func TestHostileRequestsGetAClear4xx(t *testing.T) {
	srv, d := testServer(t)
	replay := srv.URL + "/dashboard/api/deadletters/notify:0:1/replay"
	for _, c := range []struct {
		name, method, path, token string
		body                      io.Reader
		want                      int
		says                      string
	}{
		{"replay without token", "POST", replay, "", nil, 401, "token"},
		{"replay with wrong token", "POST", replay, "nope", nil, 403, "wrong token"},
		{"replay by GET", "GET", replay, d.token, nil, 405, "POST"},
		{"replay with a huge body", "POST", replay, d.token, strings.NewReader(strings.Repeat("x", 1<<20)), 413, "no body"},
		{"replay of a bad id", "POST", srv.URL + "/dashboard/api/deadletters/notify:1/replay", d.token, nil, 400, "FUNCTION:PARTITION:OFFSET"},
		{"replay of a negative offset", "POST", srv.URL + "/dashboard/api/deadletters/notify:0:-1/replay", d.token, nil, 400, "non-negative"},
		{"show a bad id", "GET", srv.URL + "/dashboard/api/deadletters/%3Cscript%3E", "", nil, 400, "FUNCTION:PARTITION:OFFSET"},
		{"delete a letter", "DELETE", srv.URL + "/dashboard/api/deadletters/notify:0:1", "", nil, 405, ""},
		{"order id with a slash", "GET", srv.URL + "/dashboard/api/orders/a%2Fb", "", nil, 400, "order id"},
		{"order id too long", "GET", srv.URL + "/dashboard/api/orders/" + strings.Repeat("a", 129), "", nil, 400, "order id"},
		{"order id with markup", "GET", srv.URL + "/dashboard/api/orders/%3Cb%3E", "", nil, 400, "order id"},
		{"post to the stream", "POST", srv.URL + "/dashboard/events", "", nil, 405, ""},
		{"a file that is not there", "GET", srv.URL + "/dashboard/../../etc/passwd", "", nil, 404, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, c.path, c.body)
			if err != nil {
				t.Fatal(err)
			}
			if c.token != "" {
				req.Header.Set(TokenHeader, c.token)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.want || !strings.Contains(string(body), c.says) {
				t.Fatalf("%s %s: %d %s, want %d saying %q", c.method, c.path, res.StatusCode, body, c.want, c.says)
			}
		})
	}
}

func TestThePageIsServedEmbeddedAndLockedDown(t *testing.T) {
	srv, _ := testServer(t)
	for path, want := range map[string]string{"/dashboard/": "<title>orderflow: live saga</title>", "/dashboard/app.js": "EventSource", "/dashboard/style.css": "#flow"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d, want 200 with %q", path, res.StatusCode, want)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Fatalf("%s: Content-Security-Policy %q", path, csp)
		}
	}
}

func TestTheTokenFileIsPrivateAndInTheURL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, TokenFile)
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.writeToken(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %v %v, want mode 0600", fi.Mode(), err)
	}
	u, err := URL("http://127.0.0.1:1", dir)
	if err != nil || u != "http://127.0.0.1:1/dashboard/#token="+d.token {
		t.Fatalf("URL %q %v", u, err)
	}
	other, _ := New(Config{})
	if other.token == d.token || len(d.token) != 32 {
		t.Fatalf("tokens %q and %q: want 32 random hex digits each", d.token, other.token)
	}
}
