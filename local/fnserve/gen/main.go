// Command gen writes local/fnserve/registry.go from functions/*: run by
// `go generate ./local/fnserve` after a function folder was added or
// removed by hand (`orderflow new function` writes it itself).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"orderflow.dev/local/scaffold"
)

func main() {
	// go generate runs this in local/fnserve.
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err == nil {
		var src []byte
		if src, err = scaffold.Registry(root); err == nil {
			err = os.WriteFile(filepath.Join(root, scaffold.RegistryFile), src, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fnserve/gen:", err)
		os.Exit(1)
	}
}
