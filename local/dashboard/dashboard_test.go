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
	d.mount(mux, "the-plane-token")
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
		{"replay without token", "POST", replay, "", nil, 401, "needs a bearer token"},
		{"replay with wrong token", "POST", replay, "nope", nil, 401, "wrong or malformed token"},
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
				req.Header.Set("Authorization", "Bearer "+c.token)
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
			if c.want == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without a Bearer challenge: WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestThePageIsServedEmbeddedAndLockedDown(t *testing.T) {
	srv, _ := testServer(t)
	for path, want := range map[string]string{"/dashboard/": "<title>orderflow: live saga</title>", "/dashboard/app.js": "Authorization: \"Bearer \" + token", "/dashboard/style.css": "#flow"} {
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

func TestTheURLCarriesTheTokenInItsFragment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("abc123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := URL("http://127.0.0.1:1", path)
	if err != nil || u != "http://127.0.0.1:1/dashboard/#token=abc123" {
		t.Fatalf("URL %q %v", u, err)
	}
	if _, err := URL("http://127.0.0.1:1", filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("URL of a missing token file: no error")
	}
}

// Only the page's own files pass a closed door without the token: every
// path that answers with data must not.
func TestStaticIsThePageAlone(t *testing.T) {
	for path, want := range map[string]bool{
		"/dashboard": true, "/dashboard/": true, "/dashboard/app.js": true, "/dashboard/style.css": true, "/dashboard/index.html": true,
		"/dashboard/events": false, "/dashboard/api/orders/o-1": false, "/dashboard/api/deadletters/notify:0:1": false,
		"/api/analytics": false, "/webhook": false, "/dashboard/../api/analytics": false,
	} {
		r := httptest.NewRequest(http.MethodGet, "http://x"+path, nil)
		if got := Static(r); got != want {
			t.Errorf("Static(GET %s) = %v, want %v", path, got, want)
		}
	}
	if Static(httptest.NewRequest(http.MethodPost, "http://x/dashboard/", nil)) {
		t.Error("Static(POST /dashboard/) = true, want false")
	}
}
