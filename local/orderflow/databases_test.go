package orderflow

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"orderflow.dev/knlocal/runner"
	"orderflow.dev/local/fnserve"
)

func writeFunc(t *testing.T, dir, name, envs string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	yaml := "specVersion: 0.36.0\nname: " + name + "\nruntime: go\nrun:\n  envs:\n" + envs
	if err := os.WriteFile(filepath.Join(dir, name, "func.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// What a function gets locally comes from its func.yaml: each database it
// reads from the orderflow-db Secret is a file named by the Secret's key,
// and the webhook stand-in goes to whoever reads NOTIFY_CHANNEL.
func TestFunctionEnvFollowsFuncYAML(t *testing.T) {
	dir := t.TempDir()
	writeFunc(t, dir, "ledger", `    - name: ORDERFLOW_DATABASE_URL
      value: '{{ secret:orderflow-db:ledger }}'
    - name: BOOKS_DATABASE_URL
      value: '{{secret:orderflow-db:ledger-books}}'
    - name: API_KEY
      value: '{{ secret:other-secret:ledger }}'
`)
	writeFunc(t, dir, "teller", `    - name: NOTIFY_CHANNEL
      value: log
`)
	state := "/state"
	got := functionEnv(dir, "ledger", state, "http://api")
	want := map[string]string{"ORDERFLOW_DATABASE_URL": "sqlite:///state/db/ledger.db", "BOOKS_DATABASE_URL": "sqlite:///state/db/ledger-books.db", "ORDERFLOW_LOG_LEVEL": "info"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ledger: %v, want %v", got, want)
	}
	got = functionEnv(dir, "teller", state, "http://api")
	if got["NOTIFY_CHANNEL"] != "webhook" || got["NOTIFY_WEBHOOK_URL"] != "http://api/webhook" || got["ORDERFLOW_DATABASE_URL"] != "sqlite:///state/db/teller.db" {
		t.Errorf("teller: %v", got)
	}
	env, err := DatabaseEnv(dir, []string{"teller", "ledger"}, func(key string) (string, error) { return "postgres://db/" + key, nil })
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"ledger/ORDERFLOW_DATABASE_URL": "postgres://db/ledger", "ledger/BOOKS_DATABASE_URL": "postgres://db/ledger-books"}; !reflect.DeepEqual(env, want) {
		t.Errorf("DatabaseEnv: %v, want %v", env, want)
	}
	if _, err := DatabaseEnv(dir, []string{"ghost"}, nil); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("a function without func.yaml: %v", err)
	}
}

// Every function of the tree starts locally: each value its func.yaml
// takes from a cluster has a local one.
func TestEveryFunctionHasItsClusterValuesLocally(t *testing.T) {
	dir := filepath.Join("..", "..", "functions")
	for _, name := range fnserve.Names() {
		local := functionEnv(dir, name, t.TempDir(), "http://127.0.0.1:1")
		if _, err := runner.Env(runner.Spec{Name: name, Dir: filepath.Join(dir, name), Local: local}, func(string) (string, bool) { return "", false }); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
