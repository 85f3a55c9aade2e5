package plane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orderflow.dev/knlocal/door"
)

// Where the plane's token comes from, and where it is kept.
func TestSetupToken(t *testing.T) {
	given := filepath.Join(t.TempDir(), "given")
	if err := os.WriteFile(given, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name                string
		opts                Options
		wantToken, wantFile string // wantToken "*": any new one
		wantErr             string
	}{
		{name: "a token file is read where it is", opts: Options{TokenFile: given}, wantToken: "from-file", wantFile: given},
		{name: "a given token is kept in the state directory", opts: Options{Token: "from-env"}, wantToken: "from-env", wantFile: door.FileName},
		{name: "otherwise one is made", wantToken: "*", wantFile: door.FileName},
		{name: "a missing token file is an error", opts: Options{TokenFile: filepath.Join(t.TempDir(), "none")}, wantErr: "no such file"},
		{name: "a token with a space is an error", opts: Options{Token: "a b"}, wantErr: "without spaces"},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := t.TempDir()
			c.opts.StateDir = state
			p := &Plane{opts: c.opts}
			err := p.setupToken()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("setupToken = %v, want an error saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.wantToken == "*" && len(p.Token()) != 32 || c.wantToken != "*" && p.Token() != c.wantToken {
				t.Fatalf("token %q, want %q", p.Token(), c.wantToken)
			}
			wantFile := c.wantFile
			if !filepath.IsAbs(wantFile) {
				wantFile = filepath.Join(state, wantFile)
			}
			if p.TokenFile() != wantFile {
				t.Fatalf("token file %s, want %s", p.TokenFile(), wantFile)
			}
			got, err := door.ReadFile(p.TokenFile())
			if err != nil || got != p.Token() {
				t.Fatalf("the file holds %q (%v), the plane %q", got, err, p.Token())
			}
			if fi, _ := os.Stat(p.TokenFile()); fi.Mode().Perm() != 0o600 {
				t.Fatalf("token file mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}
