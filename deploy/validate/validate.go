package validate

import (
	"fmt"

	"orderflow.dev/knlocal/manifests"
)

// Dir renders the kustomization dir (repository-relative) of the
// repository at root and checks the result against the functions under
// root/functions. An error means it could not be rendered at all.
func Dir(root, dir string, opts manifests.RenderOptions) ([]manifests.Object, []Problem, error) {
	fns, err := LoadFunctions(root)
	if err != nil {
		return nil, nil, err
	}
	objs, err := manifests.Render(root, dir, opts)
	if err != nil {
		return nil, nil, err
	}
	if len(objs) == 0 {
		return nil, nil, fmt.Errorf("%s renders no objects", dir)
	}
	return objs, Check(objs, fns), nil
}
