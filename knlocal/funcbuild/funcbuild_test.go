package funcbuild

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// project writes a function folder: a func.yaml with runtime and invoke,
// a go.mod, and source.
func project(t *testing.T, runtime, invoke, source string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"func.yaml":   fmt.Sprintf("specVersion: 0.36.0\nname: f\nruntime: %s\ninvoke: %s\n", runtime, invoke),
		"go.mod":      "module function\n\ngo 1.26.8\n",
		"function.go": "package function\n\n" + source,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The signature is found as func's detector finds it: package-level New
// or Handle (methods do not count), never both, never neither; the
// invocation from func.yaml, http by default.
func TestDetect(t *testing.T) {
	const (
		instanced = "type F struct{}\n\nfunc New() *F { return &F{} }\n\nfunc (f *F) Handle() {}\n"
		static    = "func Handle() {}\n"
	)
	for _, tt := range []struct {
		name, runtime, invoke, source string
		want                          string // Signature, or the error
	}{
		{"instanced cloudevent", "go", "cloudevent", instanced, "instanced-cloudevents"},
		{"instanced, invoke left out", "go", "", instanced, "instanced-http"},
		{"static http", "go", "http", static, "static-http"},
		{"static cloudevent", "go", "cloudevent", static, "static-cloudevents"},
		{"both", "go", "http", instanced + "\nfunc Handle() {}\n", "declares both New and Handle"},
		{"neither (Handle only as a method)", "go", "http", "type F struct{}\n\nfunc (F) Handle() {}\n", "declares neither New nor Handle"},
		{"not go", "python", "http", static, `runtime "python": only go functions are built here`},
		{"unknown invoke", "go", "grpc", static, `invoke: "grpc": want http or cloudevent`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := Detect(project(t, tt.runtime, tt.invoke, tt.source))
			got := sig.String()
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("Detect: %q, want %q", got, tt.want)
			}
		})
	}
}

// The scaffolding's go.mod takes the function's module from its folder
// and its requirements; main.go imports it by its module path.
func TestScaffoldTakesTheFunctionsModule(t *testing.T) {
	dir := project(t, "go", "cloudevent", "type F struct{}\n\nfunc New() *F { return &F{} }\n")
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/greeter\n\ngo 1.26.8\n\nrequire github.com/google/uuid v1.6.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := Scaffold(dir, out); err != nil {
		t.Fatal(err)
	}
	mod, _ := os.ReadFile(filepath.Join(out, "go.mod"))
	main, _ := os.ReadFile(filepath.Join(out, "main.go"))
	for _, want := range []string{"module s", "go 1.26.8", "example.com/greeter v0.0.0-00010101000000-000000000000",
		"replace example.com/greeter => " + dir, "knative.dev/func-go v0.22.0", "github.com/google/uuid v1.6.0"} {
		if !bytes.Contains(mod, []byte(want)) {
			t.Errorf("go.mod lacks %q:\n%s", want, mod)
		}
	}
	if !bytes.Contains(main, []byte(`f "example.com/greeter"`)) || !bytes.Contains(main, []byte("ce.Start(f.New())")) {
		t.Errorf("main.go:\n%s", main)
	}
}

// A template-shaped function (testdata/greetings/functions/greeter) built
// here serves as func-go serves it: readiness once Start ran, a CloudEvent
// in, its greeting POSTed to K_SINK, a blank name refused with 400.
func TestBuiltFunctionServes(t *testing.T) {
	out := t.TempDir()
	bin, err := Build(context.Background(), filepath.Join("..", "testdata", "greetings", "functions", "greeter"), out)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan *event.Event, 1)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sent <- e
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "LISTEN_ADDRESS="+addr, "GREETING=hello", "K_SINK="+sink.URL)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/health/readiness"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready:\n%s", log.String())
		}
	}
	post := func(id, data string) int {
		t.Helper()
		e := event.New()
		e.SetID(id)
		e.SetType("dev.knative.kafka.event")
		e.SetSource("/test")
		_ = e.SetData("text/plain", data)
		req, _ := http.NewRequest(http.MethodPost, base, nil)
		if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := post("n1", "Ada"); status >= 300 {
		t.Fatalf("a name: status %d\n%s", status, log.String())
	}
	select {
	case e := <-sent:
		if e.ID() != "n1/greeting" || string(e.Data()) != "hello, Ada" {
			t.Fatalf("greeting %s", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no greeting reached K_SINK")
	}
	if status := post("n2", "  "); status != http.StatusBadRequest {
		t.Fatalf("a blank name: status %d, want 400", status)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
