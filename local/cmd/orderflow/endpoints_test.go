package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.dev/knlocal/door"
	"orderflow.dev/knlocal/plane"
)

// What `up` prints ends up in terminal scrollback and CI logs: it names
// the token's file, and a command that reads it, never the token.
func TestUpPrintsTheTokenFileNeverTheToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "it's a token")
	const token = "5ec4e7c0ffee5ec4e7c0ffee5ec4e7c0"
	if err := door.WriteFile(tokenFile, token); err != nil {
		t.Fatal(err)
	}
	for _, required := range []bool{false, true} {
		e := plane.Endpoints{PID: os.Getpid(), Embedded: true, Brokers: []string{"127.0.0.1:1"}, API: "http://127.0.0.1:2",
			TokenFile: tokenFile, TokenRequired: required, Sinks: map[string]string{"commands": "http://127.0.0.1:3/x"},
			Functions: map[string]string{"order": "http://127.0.0.1:4"}, StateDir: dir}
		var out strings.Builder
		printEndpoints(&out, e, time.Second)
		if strings.Contains(out.String(), token) {
			t.Fatalf("token required %v: the token is printed:\n%s", required, out.String())
		}
		for _, want := range []string{tokenFile, `"http://127.0.0.1:2/dashboard/#token=$(cat ` + shellQuote(tokenFile) + `)"`} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("token required %v: %q missing from:\n%s", required, want, out.String())
			}
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b":      "'/a/b'",
		"/it's":     `'/it'\''s'`,
		"/a b/$(x)": "'/a b/$(x)'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
