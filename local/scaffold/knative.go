package scaffold

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// BaseDir is the kustomization both the local plane and a cluster read.
const BaseDir = "knative/base"

// doc is one YAML document of knative/base, as a generic map.
type doc struct {
	File string
	Obj  map[string]any
}

func (d doc) kind() string { s, _ := d.Obj["kind"].(string); return s }
func (d doc) name() string { s, _ := get(d.Obj, "metadata", "name").(string); return s }

// get walks nested maps.
func get(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func set(m map[string]any, value any, path ...string) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = value
}

// deepCopy copies a document through YAML, so a template taken from a
// sibling object is never changed in place.
func deepCopy(m map[string]any) map[string]any {
	raw, _ := yaml.Marshal(m)
	var out map[string]any
	_ = yaml.Unmarshal(raw, &out)
	return out
}

var separator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// baseDocs reads every document of the files knative/base's kustomization
// lists, in its order, and the kustomization's resource file names.
func baseDocs(root string) ([]doc, []string, error) {
	kfile := filepath.Join(root, BaseDir, "kustomization.yaml")
	raw, err := os.ReadFile(kfile)
	if err != nil {
		return nil, nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return nil, nil, fmt.Errorf("%s/kustomization.yaml: %w", BaseDir, err)
	}
	var out []doc
	for _, r := range k.Resources {
		file := filepath.ToSlash(filepath.Join(BaseDir, r))
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			return nil, nil, err
		}
		for _, part := range separator.Split(string(data), -1) {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(part), &obj); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", file, err)
			}
			if len(obj) > 0 {
				out = append(out, doc{File: file, Obj: obj})
			}
		}
	}
	return out, k.Resources, nil
}

// first returns the first document that is of kind and passes match.
func first(docs []doc, kind string, match func(doc) bool) (doc, bool) {
	for _, d := range docs {
		if d.kind() == kind && (match == nil || match(d)) {
			return d, true
		}
	}
	return doc{}, false
}

// manifestDoc renders one object, with comment lines above it.
func manifestDoc(comment string, obj map[string]any) ([]byte, error) {
	raw, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(comment), "\n") {
		b.WriteString("# " + line + "\n")
	}
	b.Write(raw)
	return b.Bytes(), nil
}
