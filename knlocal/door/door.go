// Package door is how the plane's HTTP doors (the KafkaSink ingress, the
// plane's API and whatever a topology adds to it, a function's pprof) are
// closed: one bearer token per running plane, kept in a file of mode 0600,
// asked for whenever a door is bound to an address other machines can
// reach, and sent by the CLI commands that knock on those doors.
package door

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"

	"orderflow.dev/knlocal"
)

// TokenVar, under a naming's prefix, is the variable that gives the token
// itself (the plane's CLI and the commands that call its doors read it; it
// wins over any file).
const TokenVar = "TOKEN"

// EnvToken is TokenVar under the default naming: ORDERFLOW_TOKEN.
var EnvToken = knlocal.Default.Env(TokenVar)

// FileName is where the plane keeps the token in its state directory when
// no token file is named.
const FileName = "token"

// Loopback reports whether host (an IP, a name, or "" for every interface)
// is reachable only from this machine: localhost or a loopback IP.
// Everything else, the unspecified 0.0.0.0 and :: included, is not.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// LoopbackAddr is Loopback for a host:port.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && Loopback(host)
}

// NewToken is 32 random hex digits.
func NewToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// WriteFile keeps token in path with mode 0600, tightening a file that was
// there already, looser.
func WriteFile(path, token string) error {
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// ReadFile reads a token file; an empty one is an error, not an open door.
func ReadFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	if strings.ContainsAny(t, " \t\r\n") {
		return "", fmt.Errorf("token file %s: the token must be one line without spaces", path)
	}
	return t, nil
}

// ClientToken is the token a command sends: $EnvToken, else the
// content of file (the one endpoints.json names); "" when neither is
// there, which is enough for a door on loopback.
func ClientToken(file string) (string, error) {
	if t := strings.TrimSpace(os.Getenv(EnvToken)); t != "" {
		return t, nil
	}
	if file == "" {
		return "", nil
	}
	t, err := ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return t, err
}

// Authorized reports whether r carries "Authorization: Bearer <token>",
// compared in constant time. An empty token authorizes nothing.
func Authorized(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && token != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}

// Refuse answers 401 with a WWW-Authenticate challenge and a JSON body
// saying what is missing and where the token is.
func Refuse(w http.ResponseWriter, r *http.Request, where string) {
	msg := "this door needs a bearer token (Authorization: Bearer <token>): " + where
	challenge := `Bearer realm="knlocal"`
	if r.Header.Get("Authorization") != "" {
		msg = "wrong or malformed token (want Authorization: Bearer <token>): " + where
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// Hint is what a refusal tells the caller about where the token is.
var Hint = "the token the plane was given (its token file, or " + EnvToken + "), or the one it wrote to <state-dir>/" + FileName

// Require lets through only requests carrying token, and those open lets
// pass anyway (a health probe, a static file holding no data); it refuses
// the rest with Refuse.
func Require(token string, open func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Authorized(r, token) || (open != nil && open(r)) {
			next.ServeHTTP(w, r)
			return
		}
		Refuse(w, r, Hint)
	})
}

// Transport adds the bearer token to the requests it carries to Hosts
// (host:port of the plane's doors) and to no others: a dead letter's
// destination, say, is whatever its event said, and must not see the token.
type Transport struct {
	Token string
	Hosts []string
	Base  http.RoundTripper // nil: http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Token == "" || !slices.Contains(t.Hosts, r.URL.Host) {
		return base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.Token)
	return base.RoundTrip(r)
}

// HostOf is the host:port of a URL, for Transport.Hosts ("" when it has none).
func HostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Host
}
