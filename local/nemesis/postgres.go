package nemesis

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"orderflow.dev/local/fnserve"
	"orderflow.dev/local/orderflow"
	"orderflow.dev/local/scratchdb"
)

// SharedPostgresPort is the test PostgreSQL other work shares: never the
// nemesis's to stop.
const SharedPostgresPort = 15432

// Postgres is a PostgreSQL the nemesis owns, run by scripts/postgres.sh
// with a port and a directory of its own, so stop-database may stop it
// (immediate shutdown: a crash, recovered at the next start) and start it
// again while the functions keep their stores on it.
type Postgres struct {
	Script string // scripts/postgres.sh
	Port   int
	Dir    string
	Log    io.Writer
}

// Validate refuses the shared PostgreSQL's port and a missing script.
func (pg *Postgres) Validate() error {
	switch {
	case pg.Port == SharedPostgresPort:
		return fmt.Errorf("postgres port %d is the shared test PostgreSQL: the nemesis stops its database, so it needs one of its own on another port", pg.Port)
	case pg.Port < 1 || pg.Port > 65535:
		return fmt.Errorf("postgres port %d: not a TCP port", pg.Port)
	case pg.Dir == "":
		return fmt.Errorf("postgres: no directory for the run's PostgreSQL")
	}
	if _, err := os.Stat(pg.Script); err != nil {
		return fmt.Errorf("postgres script: %w", err)
	}
	return nil
}

// Start starts it (initialising its directory the first time) and returns
// its URL.
func (pg *Postgres) Start(ctx context.Context) (string, error) {
	out, err := pg.script(ctx, nil, "start")
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// Schemas starts it when it is not running and gives seed's functions
// fresh schemas of their own on it, kept after the run (a failing run's
// stores stay to be read; the next run of the seed drops them first).
func (pg *Postgres) Schemas(ctx context.Context, functionsDir string, seed uint64) (map[string]string, error) {
	url, err := pg.Start(ctx)
	if err != nil {
		return nil, err
	}
	schemas, err := scratchdb.Open(ctx, "the nemesis's PostgreSQL", url)
	if err != nil {
		return nil, err
	}
	defer schemas.Close(context.WithoutCancel(ctx))
	schemas.Keep(fmt.Sprintf("nemesis_%d", seed), true)
	return orderflow.DatabaseEnv(functionsDir, fnserve.Names(), func(key string) (string, error) { return schemas.URL(ctx, key) })
}

// Crash stops it at once (immediate shutdown): connections cut, no
// checkpoint.
func (pg *Postgres) Crash(ctx context.Context) error {
	_, err := pg.script(ctx, []string{"PG_STOP_MODE=immediate"}, "stop")
	return err
}

// Stop stops it cleanly, at the end of the runs.
func (pg *Postgres) Stop(ctx context.Context) error {
	_, err := pg.script(ctx, nil, "stop")
	return err
}

func (pg *Postgres) script(ctx context.Context, env []string, arg string) (string, error) {
	cmd := exec.CommandContext(ctx, pg.Script, arg)
	// Durable (PG_DURABLE=1): the script's test tuning turns
	// synchronous_commit off, and then an immediate shutdown loses
	// commits already answered, which no application can survive. A crash
	// must cost only what PostgreSQL promises to keep.
	cmd.Env = append(os.Environ(), append(env, "PG_PORT="+strconv.Itoa(pg.Port), "PG_DIR="+pg.Dir, "PG_DURABLE=1")...)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if pg.Log != nil && stderr.Len() > 0 {
		fmt.Fprintf(pg.Log, "   postgres.sh %s: %s\n", arg, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return "", fmt.Errorf("postgres.sh %s (port %d): %v: %s", arg, pg.Port, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
