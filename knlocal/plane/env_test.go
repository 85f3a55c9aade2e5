package plane

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckEnv(t *testing.T) {
	fns := []string{"order", "inventory", "payment"}
	for _, tt := range []struct {
		key  string
		want string // "" when accepted
	}{
		{"ORDERFLOW_LOG_LEVEL", ""},
		{"order/ORDERFLOW_DATABASE_URL", ""},
		{"_x9", ""},
		{"ordr/ORDERFLOW_DATABASE_URL", `env ordr/ORDERFLOW_DATABASE_URL: no function "ordr" in the topology (its functions: inventory, order, payment)`},
		{"nosuchfn/FOO", `no function "nosuchfn"`},
		{"/FOO", `no function ""`},
		{"order/", "the variable name is empty; want VAR=value, or FUNCTION/VAR=value with FUNCTION one of inventory, order, payment"},
		{"", "the variable name is empty"},
		{"order/9LIVES", `"9LIVES" is not a variable name`},
		{"order/A B", `"A B" is not a variable name`},
		{"order/inventory/X", `"inventory/X" is not a variable name`},
	} {
		err := CheckEnv(map[string]string{tt.key: "v"}, fns)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.key, err)
			}
			continue
		}
		var ee *EnvError
		if !errors.As(err, &ee) || ee.Key != tt.key || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want an EnvError saying %q", tt.key, err, tt.want)
		}
	}
}

// The plane starts Go functions only: a func.yaml naming another runtime
// is refused naming the file, not started as if it were Go.
func TestAFuncYAMLOfAnotherRuntimeIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "echo"), 0o755); err != nil {
		t.Fatal(err)
	}
	for runtime, refused := range map[string]bool{"go": false, "rust": true, "": true} {
		yaml := "name: echo\nruntime: " + runtime + "\n"
		if err := os.WriteFile(filepath.Join(dir, "echo", "func.yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		p := &Plane{opts: Options{FunctionsDir: dir}}
		_, err := p.scaleFor("echo", func(string, ...any) {})
		if refused != (err != nil) || (refused && !strings.Contains(err.Error(), "func.yaml: runtime")) {
			t.Errorf("runtime %q: %v", runtime, err)
		}
	}
}
