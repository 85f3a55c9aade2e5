// Package funcbuild builds a Go func project into a program the way
// `func build --builder=host` does (knative.dev/func v0.49.2: its
// pkg/scaffolding and the host builder of pkg/oci), so the plane can run
// any Go function from its folder: a function.go, a go.mod, a func.yaml.
//
// As func does, it finds which signature the function implements (a
// package-level New: instanced; a package-level Handle: static; not both)
// and how it is invoked (func.yaml's invoke: http, the default, or
// cloudevent); writes func's scaffolding for that pair into a build
// folder: a main package handing the function to knative.dev/func-go's
// runtime, and a go.mod that takes the function's module from its folder,
// with the function's go version and requirements merged in, and the
// function's go.sum beside the scaffolding's; and runs go build there with
// CGO_ENABLED=0, the workspace off (a func build sees the function's
// folder alone).
//
// The one difference: the scaffolding requires knative.dev/func-go
// v0.22.0, the version this tree pins, where func v0.49.2's scaffolding
// has v0.21.3 (a function that requires a newer one gets it: the go
// command takes the higher of the two).
package funcbuild

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"orderflow.dev/knlocal/manifests"
)

// The scaffolding's go.mod and go.sum (module s, requiring func-go). They
// are not named go.mod here: that would make this folder a module apart.
var (
	//go:embed scaffold.mod
	scaffoldMod []byte
	//go:embed scaffold.sum
	scaffoldSum []byte
)

// Binary is the program a build leaves in its build folder.
const Binary = "f"

// Signature is the pair that picks func's scaffolding: the function's
// method set and its invocation.
type Signature struct {
	Instanced bool   // New() returns the function; else a package-level Handle
	Invoke    string // "http" or "cloudevent"
}

func (s Signature) String() string {
	kind := "static"
	if s.Instanced {
		kind = "instanced"
	}
	invoke := "http"
	if s.Invoke == "cloudevent" {
		invoke = "cloudevents"
	}
	return kind + "-" + invoke
}

// mains are func's scaffolding main.go files, by Signature, with the
// function's module path where func writes "function".
var mains = map[string]string{
	"instanced-cloudevents": `package main

import (
	"fmt"
	"os"

	ce "knative.dev/func-go/cloudevents"

	f "function"
)

func main() {
	if err := ce.Start(f.New()); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
`,
	"static-cloudevents": `package main

import (
	"fmt"
	"os"

	ce "knative.dev/func-go/cloudevents"

	f "function"
)

func main() {
	if err := ce.Start(ce.DefaultHandler{Handler: f.Handle}); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
`,
	"instanced-http": `package main

import (
	"fmt"
	"os"

	"knative.dev/func-go/http"

	f "function"
)

func main() {
	if err := http.Start(f.New()); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
`,
	"static-http": `package main

import (
	"fmt"
	"net/http"
	"os"

	fhttp "knative.dev/func-go/http"

	f "function"
)

type fx func(http.ResponseWriter, *http.Request)

func (f fx) Handle(w http.ResponseWriter, r *http.Request) {
	f(w, r)
}

func main() {
	if err := fhttp.Start(fx(f.Handle)); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
`,
}

// Detect reads the function in dir: its func.yaml's runtime (go only) and
// invocation, and which of New and Handle its Go files declare at package
// level.
func Detect(dir string) (Signature, error) {
	fy, err := manifests.LoadFunc(dir)
	if err != nil {
		return Signature{}, err
	}
	if fy.Runtime != "go" {
		return Signature{}, fmt.Errorf("%s: runtime %q: only go functions are built here", fy.File, fy.Runtime)
	}
	sig := Signature{Invoke: "http"}
	switch fy.Invoke {
	case "", "http":
	case "cloudevent":
		sig.Invoke = fy.Invoke
	default:
		return Signature{}, fmt.Errorf("%s: invoke %q: want http or cloudevent", fy.File, fy.Invoke)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Signature{}, err
	}
	var static bool
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			return Signature{}, err
		}
		for _, d := range file.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil {
				sig.Instanced = sig.Instanced || fn.Name.Name == "New"
				static = static || fn.Name.Name == "Handle"
			}
		}
	}
	switch {
	case sig.Instanced && static:
		return Signature{}, fmt.Errorf("function %s declares both New and Handle at package level: func builds one or the other", dir)
	case !sig.Instanced && !static:
		return Signature{}, fmt.Errorf("function %s declares neither New nor Handle at package level: func finds no signature to serve", dir)
	}
	return sig, nil
}

// Scaffold writes into out the main package and module that serve the
// function in dir, as func's scaffolding does.
func Scaffold(dir, out string) (Signature, error) {
	sig, err := Detect(dir)
	if err != nil {
		return sig, err
	}
	src, err := filepath.Abs(dir)
	if err != nil {
		return sig, err
	}
	fnModPath := filepath.Join(src, "go.mod")
	fnData, err := os.ReadFile(fnModPath)
	if err != nil {
		return sig, fmt.Errorf("function %s: %w", dir, err)
	}
	fnMod, err := modfile.Parse(fnModPath, fnData, nil)
	if err != nil {
		return sig, err
	}
	if fnMod.Module == nil {
		return sig, fmt.Errorf("%s: no module line", fnModPath)
	}
	module := fnMod.Module.Mod.Path
	mod, err := modfile.Parse("scaffold.mod", scaffoldMod, nil)
	if err != nil {
		return sig, err
	}
	// The function's go version, unless the scaffolding's requirements
	// want a newer one.
	if fnMod.Go != nil && semver.Compare("v"+fnMod.Go.Version, "v"+mod.Go.Version) > 0 {
		if err := mod.AddGoStmt(fnMod.Go.Version); err != nil {
			return sig, err
		}
	}
	if err := mod.AddReplace(module, "", src, ""); err != nil {
		return sig, err
	}
	if err := mod.AddRequire(module, "v0.0.0-00010101000000-000000000000"); err != nil {
		return sig, err
	}
	have := map[string]bool{}
	for _, r := range mod.Require {
		have[r.Mod.Path] = true
	}
	for _, r := range fnMod.Require {
		if !have[r.Mod.Path] {
			if err := mod.AddRequire(r.Mod.Path, r.Mod.Version); err != nil {
				return sig, err
			}
		}
	}
	goMod, err := mod.Format()
	if err != nil {
		return sig, err
	}
	fnSum, err := os.ReadFile(filepath.Join(src, "go.sum"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return sig, err
	}
	main := strings.ReplaceAll(mains[sig.String()], `"function"`, fmt.Sprintf("%q", module))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return sig, err
	}
	for name, data := range map[string][]byte{
		"go.mod": goMod, "go.sum": append(append([]byte{}, scaffoldSum...), fnSum...), "main.go": []byte(main),
	} {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return sig, err
		}
	}
	return sig, nil
}

// Build scaffolds the function in dir into out and builds it there,
// returning the program (out/f). The go command comes from PATH, with the
// caller's environment (GOPROXY, GOFLAGS, the caches) but no workspace.
func Build(ctx context.Context, dir, out string) (string, error) {
	if _, err := Scaffold(dir, out); err != nil {
		return "", err
	}
	bin := filepath.Join(out, Binary)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = out
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building function %s (go build in %s): %w\n%s", dir, out, err, strings.TrimSpace(output.String()))
	}
	return bin, nil
}
