package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"orderflow.dev/knlocal/door"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/shared/events"
)

// knock sends one request to a door, with auth as the Authorization header
// ("" for none), and returns the status, the challenge and the body.
func knock(t *testing.T, method, url, auth string, body []byte, header http.Header) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return res.StatusCode, res.Header.Get("WWW-Authenticate"), string(b)
}

// aDoor is one door of the plane and what it answers to a caller it lets in.
type aDoor struct {
	name, method, path string
	body               []byte
	header             http.Header
	admitted           int
}

// doorsOf lists every door a plane's endpoints name: the KafkaSink ingress
// (a valid place-order command), the API, the webhook, the dashboard's
// data and its replay.
func doorsOf(t *testing.T, ep plane.Endpoints) []aDoor {
	t.Helper()
	e, err := events.New(events.PlaceOrder, events.PlaceOrderData{OrderID: "o-door", CustomerID: "c", Email: "c@x.org",
		Currency: "EUR", PaymentToken: "tok_visa", Lines: []events.Line{{SKU: "sku-mug", Quantity: 1}}}, nil, "/e2e")
	if err != nil {
		t.Fatal(err)
	}
	structured, _ := json.Marshal(e)
	ce := http.Header{"Content-Type": {"application/cloudevents+json"}}
	return []aDoor{
		{"ingress", "POST", ep.Sinks["commands"], structured, ce, http.StatusAccepted},
		{"api analytics", "GET", ep.API + "/api/analytics", nil, nil, http.StatusOK},
		{"api sources", "GET", ep.API + "/api/sources", nil, nil, http.StatusOK},
		{"webhook", "POST", ep.API + "/webhook", []byte(`{"id":"ntf-o-door-confirmed","orderId":"o-door","outcome":"confirmed","to":"c@x.org"}`),
			http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"ntf-o-door-confirmed"}}, http.StatusNoContent},
		{"dashboard order", "GET", ep.API + "/dashboard/api/orders/o-none", nil, nil, http.StatusNotFound},
		{"dashboard replay", "POST", ep.API + "/dashboard/api/deadletters/notify:0:99999/replay", nil, nil, http.StatusNotFound},
	}
}

// Bound to every interface (0.0.0.0), each door asks for the token even of
// a caller on loopback: what closes it is where it is bound, not who
// calls. Reached through this machine's own non-loopback address too,
// when it has one.
func TestDoorsBoundBeyondLoopbackWantTheToken(t *testing.T) {
	p := up(t, func(o *plane.Options) { o.Host = "0.0.0.0" })
	ep := p.Endpoints()
	if !ep.TokenRequired || ep.TokenFile == "" {
		t.Fatalf("endpoints %+v: want tokenRequired and the token file", ep)
	}
	if fi, err := os.Stat(ep.TokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v %v, want mode 0600", ep.TokenFile, fi, err)
	}
	token, err := door.ReadFile(ep.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	bases := [][2]string{{"127.0.0.1", "127.0.0.1"}}
	if ip := nonLoopbackIP(); ip != "" {
		bases = append(bases, [2]string{"127.0.0.1", ip})
	} else {
		t.Log("this machine has no non-loopback IPv4 address: the doors are tried through 127.0.0.1 only")
	}
	for _, base := range bases {
		for _, d := range doorsOf(t, ep) {
			url := strings.Replace(d.path, base[0], base[1], 1)
			for _, auth := range []string{"", "Bearer wrong-token", "Basic " + token, "Bearer " + token + "x"} {
				status, challenge, body := knock(t, d.method, url, auth, d.body, d.header)
				if status != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer") || !strings.Contains(body, "token") {
					t.Fatalf("%s %s with Authorization %q: %d (WWW-Authenticate %q) %s; want 401, a Bearer challenge and a body naming the token",
						d.method, url, auth, status, challenge, body)
				}
			}
			if status, _, body := knock(t, d.method, url, "Bearer "+token, d.body, d.header); status != d.admitted {
				t.Fatalf("%s %s with the token: %d %s, want %d", d.method, url, status, body, d.admitted)
			}
		}
	}
	// What holds no data stays open: the health probe and the page itself.
	for _, path := range []string{"/healthz", "/dashboard/", "/dashboard/app.js"} {
		if status, _, body := knock(t, "GET", ep.API+path, "", nil, nil); status != http.StatusOK {
			t.Fatalf("GET %s without a token: %d %s, want 200", path, status, body)
		}
	}

	// The commands read the token from the file endpoints.json names...
	out := cli(t, p, "place", "--sku", "sku-tee:1", "--id", "o-door-cli")
	if !strings.Contains(out, "CONFIRMED") {
		t.Fatalf("place through the closed door:\n%s", out)
	}
	if out := cli(t, p, "dlq", "list"); strings.Contains(out, "unknown") {
		t.Fatalf("dlq list could not read the plane's API through the closed door:\n%s", out)
	}
	// ...and are refused with a wrong one, saying so.
	cmd := exec.Command(binary, "--state-dir", ep.StateDir, "place", "--sku", "sku-tee:1", "--no-wait")
	cmd.Dir, cmd.Env = root, append(os.Environ(), door.EnvToken+"=wrong-token")
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "401") {
		t.Fatalf("place with a wrong %s: %v\n%s\nwant a failure with 401", door.EnvToken, err, b)
	}

	// The page loads through the closed door and goes live with the
	// token of its URL's fragment (its stream sends it as a bearer token).
	if _, err := exec.LookPath("chromium"); err == nil {
		openDashboard(t, ep.API+"/dashboard/#token="+token)
	}
}

// On loopback, the default, the doors are open: no token is needed, and a
// request without one goes through.
func TestDoorsOnLoopbackNeedNoToken(t *testing.T) {
	p := up(t, nil)
	ep := p.Endpoints()
	if ep.TokenRequired || !strings.HasPrefix(ep.API, "http://127.0.0.1:") || !strings.HasPrefix(ep.Ingress, "http://127.0.0.1:") {
		t.Fatalf("endpoints %+v: want open doors on 127.0.0.1", ep)
	}
	for _, d := range doorsOf(t, ep) {
		if d.name == "dashboard replay" {
			// The one exception: a replay asks for the token everywhere.
			if status, _, _ := knock(t, d.method, d.path, "", d.body, d.header); status != http.StatusUnauthorized {
				t.Fatalf("replay without the token on loopback: %d, want 401", status)
			}
			continue
		}
		if status, _, body := knock(t, d.method, d.path, "", d.body, d.header); status != d.admitted {
			t.Fatalf("%s %s without a token: %d %s, want %d", d.method, d.path, status, body, d.admitted)
		}
	}
}

// nonLoopbackIP is an IPv4 address of this machine other than loopback,
// or "".
func nonLoopbackIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}
