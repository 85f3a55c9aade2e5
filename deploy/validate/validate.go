package validate

import "fmt"

// Dir renders the kustomization dir (repository-relative) of the
// repository at root and checks the result against the functions under
// root/functions. An error means it could not be rendered at all.
func Dir(root, dir string, opts RenderOptions) ([]Object, []Problem, error) {
	fns, err := LoadFunctions(root)
	if err != nil {
		return nil, nil, err
	}
	objs, err := Render(root, dir, opts)
	if err != nil {
		return nil, nil, err
	}
	if len(objs) == 0 {
		return nil, nil, fmt.Errorf("%s renders no objects", dir)
	}
	return objs, Check(objs, fns), nil
}
