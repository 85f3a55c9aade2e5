// Package scaffold adds a saga step to the orderflow tree, the way `func
// create` adds a function to a folder and then some: the function folder,
// its module in the workspace, its eventing objects in knative/base, the
// event type it emits in the catalog, its line in the in-process host
// (`orderflow new function`). It also renders that host's registry from
// functions/*, which is where the topology's functions are listed: nowhere
// else.
package scaffold

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Function is one folder of functions/: a func.yaml naming it and a go.mod
// naming its module.
type Function struct {
	Name   string // func.yaml name, also its folder and its Knative Service
	Module string // go.mod module path
	Dir    string // functions/<name>, relative to the tree's root
}

// Functions lists the functions of the tree at root, by name: every
// functions/*/func.yaml. A folder whose func.yaml names another function,
// or that has no go.mod, is an error naming it: the local plane and func
// both take the folder's name for the function's.
func Functions(root string) ([]Function, error) {
	files, err := filepath.Glob(filepath.Join(root, "functions", "*", "func.yaml"))
	if err != nil {
		return nil, err
	}
	var out []Function
	for _, f := range files {
		dir := filepath.Dir(f)
		rel := filepath.ToSlash(filepath.Join("functions", filepath.Base(dir)))
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var fy struct {
			Name string `json:"name"`
		}
		if err := yaml.Unmarshal(raw, &fy); err != nil {
			return nil, fmt.Errorf("%s/func.yaml: %w", rel, err)
		}
		if fy.Name != filepath.Base(dir) {
			return nil, fmt.Errorf("%s/func.yaml: name is %q, but the folder is %q: they must be the same", rel, fy.Name, filepath.Base(dir))
		}
		mod, err := modulePath(filepath.Join(dir, "go.mod"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		out = append(out, Function{Name: fy.Name, Module: mod, Dir: rel})
	}
	slices.SortFunc(out, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// modulePath reads the module line of a go.mod.
func modulePath(file string) (string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", fmt.Errorf("go.mod: no module line")
}
