package handler

import (
	"strings"
	"testing"

	"orderflow.dev/shared/store"
)

func TestOneProcessStore(t *testing.T) {
	for _, c := range []struct {
		dialect  store.Dialect
		maxScale int
		refused  string
	}{
		{store.SQLite, -1, ""},
		{store.SQLite, 1, ""},
		{store.SQLite, 2, "up to 2 replicas"},
		{store.SQLite, 0, "unbounded"},
		{store.Postgres, 0, ""},
		{store.Postgres, 12, ""},
	} {
		err := oneProcessStore(c.dialect, c.maxScale)
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%v max %d: refused: %v", c.dialect, c.maxScale, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused) || !strings.Contains(err.Error(), "PostgreSQL")):
			t.Errorf("%v max %d: %v, want a refusal saying %q and what to use", c.dialect, c.maxScale, err, c.refused)
		}
	}
}
