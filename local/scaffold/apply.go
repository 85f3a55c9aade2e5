package scaffold

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Apply writes the plan, then runs finish (go mod tidy of the new module,
// say). Should any step fail, every file is put back as it was and every
// created one removed: the tree is left as it was found, and the error
// says what failed.
//
// It first refuses a dirty target: in a git checkout, uncommitted changes
// to any file it edits (its changes should be one diff to review or undo);
// anywhere, a file it would create that exists.
func (p *Plan) Apply(finish func() error) (err error) {
	if err := p.checkClean(); err != nil {
		return err
	}
	var done []File
	dir := filepath.Join(p.Root, "functions", p.Name)
	defer func() {
		if err == nil {
			return
		}
		var undo []error
		for i := len(done) - 1; i >= 0; i-- {
			f := done[i]
			path := filepath.Join(p.Root, f.Path)
			if f.Old == nil {
				undo = append(undo, os.Remove(path))
			} else {
				undo = append(undo, writeFile(path, f.Old))
			}
		}
		undo = append(undo, os.RemoveAll(dir)) // with what finish made there (go.sum)
		if u := errors.Join(undo...); u != nil {
			err = fmt.Errorf("%w; and putting the tree back failed too: %v", err, u)
		} else {
			err = fmt.Errorf("%w (nothing was changed: every file is as it was)", err)
		}
	}()
	for _, f := range p.Files {
		path := filepath.Join(p.Root, f.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := writeFile(path, f.New); err != nil {
			return err
		}
		done = append(done, f)
	}
	if finish != nil {
		return finish()
	}
	return nil
}

// writeFile replaces path in one rename, so a failure leaves the old file
// or the new one, never half of either.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// checkClean refuses to write over uncommitted work or an existing file.
func (p *Plan) checkClean() error {
	var exist, changed []string
	for _, f := range p.Files {
		_, statErr := os.Stat(filepath.Join(p.Root, f.Path))
		switch {
		case f.Old == nil && statErr == nil:
			exist = append(exist, f.Path)
		case f.Old != nil:
			changed = append(changed, f.Path)
			now, err := os.ReadFile(filepath.Join(p.Root, f.Path))
			if err != nil || !bytes.Equal(now, f.Old) {
				return fmt.Errorf("%s changed since the plan was made; run the command again", f.Path)
			}
		}
	}
	if len(exist) > 0 {
		return fmt.Errorf("dirty target: %s already exist(s); remove them or choose another name", strings.Join(exist, ", "))
	}
	if exec.Command("git", "-C", p.Root, "rev-parse", "--is-inside-work-tree").Run() != nil {
		return nil // not a git checkout: there is no committed state to compare with
	}
	out, err := exec.Command("git", append([]string{"-C", p.Root, "status", "--porcelain", "--"}, changed...)...).Output()
	if err != nil {
		return fmt.Errorf("git status in %s: %w", p.Root, err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return fmt.Errorf("dirty target: uncommitted changes to files `orderflow new function` edits:\n%s\ncommit or stash them first, so its changes are one diff to review (or undo with git checkout)", s)
	}
	return nil
}
