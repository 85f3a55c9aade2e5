// Command modproxy publishes a module of this tree into a folder laid out
// as a Go module proxy serves it (<module>/@v/{list,V.info,V.mod,V.zip}), so
// that a build with GOWORK=off and GOPROXY=file://<folder> consumes it
// exactly as it will consume the tagged release. func builds see only the
// function's folder and ignore replace directives and go.work, so this is
// how a function is built against the shared/ of the current tree.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

func main() {
	mod := flag.String("module", "orderflow.dev/shared", "module path")
	version := flag.String("version", "v0.1.0", "version to publish it as")
	dir := flag.String("dir", "shared", "folder holding the module's go.mod")
	out := flag.String("out", ".cache/modproxy", "proxy folder to write")
	flag.Parse()
	if err := run(*mod, *version, *dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "modproxy:", err)
		os.Exit(1)
	}
}

func run(mod, version, dir, out string) error {
	mv := module.Version{Path: mod, Version: version}
	if err := module.Check(mod, version); err != nil {
		return err
	}
	esc, err := module.EscapePath(mod)
	if err != nil {
		return err
	}
	vdir := filepath.Join(out, esc, "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return fmt.Errorf("-dir %s: %w", dir, err)
	}
	zf, err := os.Create(filepath.Join(vdir, version+".zip"))
	if err != nil {
		return err
	}
	if err := zip.CreateFromDir(zf, mv, dir); err != nil {
		zf.Close()
		return fmt.Errorf("zipping %s: %w", dir, err)
	}
	if err := zf.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, version+".mod"), gomod, 0o644); err != nil {
		return err
	}
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	if err := os.WriteFile(filepath.Join(vdir, version+".info"), info, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, "list"), []byte(version+"\n"), 0o644); err != nil {
		return err
	}
	abs, _ := filepath.Abs(out)
	fmt.Printf("published %s@%s from %s into file://%s\n", mod, version, dir, abs)
	return nil
}
