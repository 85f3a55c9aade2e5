package manifests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one object of a rendered kustomization: its identity, where
// it came from and its JSON, exactly as kustomize emitted it (less the
// origin annotations rendering adds for its own use).
type Object struct {
	Origin
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	JSON       []byte
}

// Origin says where an object was declared: the file (for a generated
// object, the kustomization that generated it), and the kustomization
// files whose patches (or replacements) changed it.
type Origin struct {
	File      string
	PatchedBy []string
}

// Where names the file for a message, with what patched the object.
func (o Origin) Where() string {
	if len(o.PatchedBy) == 0 {
		return o.File
	}
	return o.File + " (patched by " + strings.Join(o.PatchedBy, ", ") + ")"
}

// Where names the object for a message: file, kind and name.
func (o Object) Where() string { return fmt.Sprintf("%s: %s %q", o.Origin.Where(), o.Kind, o.Name) }

// RenderOptions tune Render.
type RenderOptions struct {
	// Files are put in place of (or beside) files of the tree, keyed by
	// repository-relative path, e.g. the production secrets, which are
	// never committed.
	Files map[string][]byte
}

// Render builds the kustomization in dir (repository-relative, e.g.
// "knative/overlays/prod") of the repository at root with kustomize's own
// engine (sigs.k8s.io/kustomize/api krusty, the version kustomize v5.8.2
// is built from, with its default options, as `kustomize build` runs it).
//
// The knative/ tree is copied into an in-memory file system first, so that
// opts.Files can stand in for uncommitted files, and so that origin and
// transformer annotations (kustomize's buildMetadata) can be switched on
// for every object without touching the files on disk: they say which
// file declared an object and which patches changed it.
func Render(root, dir string, opts RenderOptions) ([]Object, error) {
	top := strings.Split(filepath.ToSlash(filepath.Clean(dir)), "/")[0]
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			return mem.MkdirAll("/" + rel)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+rel, data)
	})
	if err != nil {
		return nil, err
	}
	for rel, data := range opts.Files {
		rel = filepath.ToSlash(filepath.Clean(rel))
		if err := mem.MkdirAll("/" + path.Dir(rel)); err != nil {
			return nil, err
		}
		if err := mem.WriteFile("/"+rel, data); err != nil {
			return nil, err
		}
	}

	kdir := "/" + filepath.ToSlash(filepath.Clean(dir))
	return renderFS(mem, kdir, func(p string) string { return strings.TrimPrefix(p, "/") })
}

// RenderDir builds the kustomization in dir, on disk, as Render does; the
// files its objects name are paths as reached from dir (dir/order.yaml,
// dir/../base/order.yaml cleaned). Nothing is written to disk.
func RenderDir(dir string) ([]Object, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	disk := withEdits{FileSystem: filesys.MakeFsOnDisk(), edits: map[string][]byte{}}
	return renderFS(disk, abs, func(p string) string {
		rel, err := filepath.Rel(abs, filepath.FromSlash(p))
		if err != nil {
			return p
		}
		return filepath.Join(dir, rel)
	})
}

// withEdits is the disk, except for the files written to it, which it
// keeps in memory: rendering switches on kustomize's build metadata in the
// top kustomization without touching the file.
type withEdits struct {
	filesys.FileSystem
	edits map[string][]byte
}

func (w withEdits) ReadFile(p string) ([]byte, error) {
	if data, ok := w.edits[filepath.Clean(p)]; ok {
		return data, nil
	}
	return w.FileSystem.ReadFile(p)
}

func (w withEdits) WriteFile(p string, data []byte) error {
	w.edits[filepath.Clean(p)] = data
	return nil
}

// RenderError is a kustomization kustomize could not build, with what it
// said.
type RenderError struct {
	Dir string
	Err error
}

func (e *RenderError) Error() string { return "kustomize build " + e.Dir + ": " + e.Err.Error() }

func (e *RenderError) Unwrap() error { return e.Err }

// renderFS renders the kustomization in kdir of fsys; display turns a
// path of fsys into the one a message shows.
func renderFS(fsys filesys.FileSystem, kdir string, display func(string) string) ([]Object, error) {
	kfile, err := kustomizationFile(fsys, kdir)
	if err != nil {
		return nil, &RenderError{Dir: display(kdir), Err: err}
	}
	if err := enableBuildMetadata(fsys, kfile); err != nil {
		return nil, &RenderError{Dir: display(kdir), Err: err}
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, kdir)
	if err != nil {
		return nil, &RenderError{Dir: display(kdir), Err: err}
	}
	var out []Object
	for _, r := range m.Resources() {
		o, err := object(r, kdir)
		if err != nil {
			return nil, &RenderError{Dir: display(kdir), Err: fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)}
		}
		out = append(out, o)
	}
	if err := keepRealPatches(fsys, kdir, out); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].File = display(out[i].File)
		for j, p := range out[i].PatchedBy {
			out[i].PatchedBy[j] = display(p)
		}
	}
	return out, nil
}

// keepRealPatches drops PatchedBy from objects a patch did not change.
// kustomize's transformer annotation records every patch transformer an
// object passed through, whether its target matched or not, so each object
// is compared with the same object rendered by the kustomization that
// declares it: only a difference in content (spec, data, stringData) is a
// patch.
func keepRealPatches(fsys filesys.FileSystem, kdir string, objs []Object) error {
	inner := map[string]map[string][]byte{} // kustomization dir -> id -> content
	for i := range objs {
		o := &objs[i]
		if len(o.PatchedBy) == 0 {
			continue
		}
		d := path.Dir(o.File)
		if d == kdir {
			continue
		}
		if _, err := kustomizationFile(fsys, d); err != nil {
			continue
		}
		if _, done := inner[d]; !done {
			m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, d)
			if err != nil {
				return &RenderError{Dir: d, Err: err}
			}
			inner[d] = map[string][]byte{}
			for _, r := range m.Resources() {
				data, err := r.MarshalJSON()
				if err != nil {
					return err
				}
				inner[d][r.GetKind()+"/"+r.GetName()] = content(data)
			}
		}
		if before, ok := inner[d][o.Kind+"/"+o.Name]; ok && string(before) == string(content(o.JSON)) {
			o.PatchedBy = nil
		}
	}
	return nil
}

// content is an object's JSON less apiVersion, kind and metadata.
func content(data []byte) []byte {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	delete(m, "apiVersion")
	delete(m, "kind")
	delete(m, "metadata")
	out, _ := json.Marshal(m)
	return out
}

func kustomizationFile(fsys filesys.FileSystem, dir string) (string, error) {
	for _, n := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if p := path.Join(dir, n); fsys.Exists(p) {
			return p, nil
		}
	}
	return "", errors.New("no kustomization.yaml in this directory")
}

// enableBuildMetadata adds originAnnotations and transformerAnnotations to
// the top kustomization's buildMetadata, in memory only.
func enableBuildMetadata(fsys filesys.FileSystem, file string) error {
	data, err := fsys.ReadFile(file)
	if err != nil {
		return err
	}
	var k map[string]any
	if err := yaml.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("%s: %w", path.Base(file), err)
	}
	have, _ := k["buildMetadata"].([]any)
	for _, want := range []string{types.OriginAnnotations, types.TransformerAnnotations} {
		found := false
		for _, h := range have {
			found = found || h == want
		}
		if !found {
			have = append(have, want)
		}
	}
	k["buildMetadata"] = have
	data, err = yaml.Marshal(k)
	if err != nil {
		return err
	}
	return fsys.WriteFile(file, data)
}

const (
	originAnnotation         = "config.kubernetes.io/origin"
	transformationAnnotation = "alpha.config.kubernetes.io/transformations"
)

// origin is the YAML kustomize writes into the origin annotations.
type origin struct {
	Path         string `json:"path,omitempty"`
	ConfiguredIn string `json:"configuredIn,omitempty"`
	ConfiguredBy struct {
		Kind string `json:"kind,omitempty"`
	} `json:"configuredBy,omitempty"`
}

func object(r *resource.Resource, kdir string) (Object, error) {
	o := Object{APIVersion: r.GetApiVersion(), Kind: r.GetKind(), Name: r.GetName(), Namespace: r.GetNamespace()}
	ann := r.GetAnnotations()
	if s, ok := ann[originAnnotation]; ok {
		var or origin
		if err := yaml.Unmarshal([]byte(s), &or); err != nil {
			return o, fmt.Errorf("origin annotation: %w", err)
		}
		switch {
		case or.Path != "":
			o.File = fsPath(kdir, or.Path)
		case or.ConfiguredIn != "":
			o.File = fsPath(kdir, or.ConfiguredIn)
		}
	}
	if s, ok := ann[transformationAnnotation]; ok {
		var ts []origin
		if err := yaml.Unmarshal([]byte(s), &ts); err != nil {
			return o, fmt.Errorf("transformations annotation: %w", err)
		}
		seen := map[string]bool{}
		for _, t := range ts {
			// Only what changes content: patches and replacements, not
			// the namespace and label transformers every object passes.
			if k := t.ConfiguredBy.Kind; !strings.Contains(k, "Patch") && !strings.Contains(k, "Replacement") {
				continue
			}
			p := t.ConfiguredIn
			if p == "" {
				p = t.Path
			}
			if p = fsPath(kdir, p); p != "" && !seen[p] {
				seen[p] = true
				o.PatchedBy = append(o.PatchedBy, p)
			}
		}
		sort.Strings(o.PatchedBy)
	}
	if o.File == "" {
		o.File = kdir
	}
	// What a cluster receives carries neither annotation: kustomize adds
	// them only when asked, and rendering asked for its own use.
	delete(ann, originAnnotation)
	delete(ann, transformationAnnotation)
	if err := r.SetAnnotations(ann); err != nil {
		return o, err
	}
	data, err := r.MarshalJSON()
	if err != nil {
		return o, err
	}
	o.JSON = data
	return o, nil
}

// fsPath turns a path kustomize reports relative to the top
// kustomization directory into one of the file system rendered.
func fsPath(kdir, p string) string {
	if p == "" {
		return ""
	}
	if !path.IsAbs(p) {
		p = path.Join(kdir, p)
	}
	return path.Clean(p)
}
