package manifests

import (
	"strings"
	"testing"
)

const funcYAML = `specVersion: 0.36.0
name: payment
runtime: go
created: 2026-01-01T00:00:00Z
invoke: cloudevent
build:
  builder: host
run:
  envs:
    - name: GATEWAY_MODE
      value: sandbox
    - name: DATABASE_URL
      value: '{{ env:ORDERFLOW_DATABASE_URL }}'
    - name: API_KEY
      value: '{{ secret:payment-gateway:api-key }}'
    - value: '{{ secret:payment-extra }}'
    - name: REGION
      value: '{{configMap:settings:region}}'
    - name: LITERAL_BRACES
      value: 'x {{ env:NOT_A_TEMPLATE }}'
deploy:
  namespace: orderflow
`

func TestFuncYAML(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, FuncFile, funcYAML)
	f, err := LoadFunc(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "payment" || f.Runtime != "go" || f.Invoke != "cloudevent" || len(f.Envs) != 6 {
		t.Fatalf("func = %+v", f)
	}
	env := map[string]string{"ORDERFLOW_DATABASE_URL": "sqlite:///tmp/p.db"}
	got, err := f.ResolveEnvs(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	want := []ResolvedEnv{
		{Name: "GATEWAY_MODE", Value: "sandbox", Source: EnvLiteral, Template: "sandbox"},
		{Name: "DATABASE_URL", Value: "sqlite:///tmp/p.db", Source: EnvFromLocal, Ref: "ORDERFLOW_DATABASE_URL", Template: "{{ env:ORDERFLOW_DATABASE_URL }}"},
		{Name: "API_KEY", Source: EnvClusterOnly, RefKind: "secret", Ref: "payment-gateway", Key: "api-key", Template: "{{ secret:payment-gateway:api-key }}"},
		{Name: "", Source: EnvClusterOnly, RefKind: "secret", Ref: "payment-extra", Template: "{{ secret:payment-extra }}"},
		{Name: "REGION", Source: EnvClusterOnly, RefKind: "configMap", Ref: "settings", Key: "region", Template: "{{configMap:settings:region}}"},
		{Name: "LITERAL_BRACES", Value: "x {{ env:NOT_A_TEMPLATE }}", Source: EnvLiteral, Template: "x {{ env:NOT_A_TEMPLATE }}"},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("env %d = %+v\nwant        %+v", i, got[i], want[i])
		}
	}
	if got[2].Source.String() != "cluster-only" {
		t.Errorf("String() = %q", got[2].Source)
	}

	_, err = f.ResolveEnvs(func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "run.envs[1].value: DATABASE_URL needs local environment variable ORDERFLOW_DATABASE_URL, which is not set") {
		t.Errorf("missing env error = %v", err)
	}
}

func TestFuncYAMLProblems(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a/func.yaml", "runtime: go\n")
	if _, err := LoadFunc(dir + "/a"); err == nil || !strings.Contains(err.Error(), "func.yaml: name: missing") {
		t.Errorf("err = %v", err)
	}
	write(t, dir, "b/func.yaml", "name: x\nrun:\n  envs:\n    - value: plain\n")
	if _, err := LoadFunc(dir + "/b/func.yaml"); err == nil || !strings.Contains(err.Error(), "run.envs[0].name: missing") {
		t.Errorf("err = %v", err)
	}
	write(t, dir, "c/func.yaml", "name: x\nruntime: go\ninvoke: nope\n")
	if _, err := LoadFunc(dir + "/c"); err == nil || !strings.Contains(err.Error(), `invoke: "nope": want http or cloudevent`) {
		t.Errorf("err = %v", err)
	}
}
