// Package scratchdb gives a run fresh PostgreSQL schemas inside one
// existing database: one per function of a topology (a function's tables,
// processed ids and outbox must not meet another's), each reached through
// a URL whose search_path selects it, all dropped when the run ends. The
// database itself, and whatever else it holds, is left alone.
package scratchdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"orderflow.dev/shared/store"
)

// Schemas are the schemas one run made.
type Schemas struct {
	admin  *store.DB
	base   *url.URL
	prefix string
	made   []string
	// kept: the schemas outlive the run (Keep).
	kept, fresh bool
}

// Keep makes the schemas a lasting home rather than scratch: each is named
// prefix_label, made when missing and kept by Close, so a later run finds
// its data again; fresh drops each before making it (a start from
// nothing).
func (s *Schemas) Keep(prefix string, fresh bool) {
	s.prefix, s.kept, s.fresh = prefix, true, fresh
}

// IsPostgres reports whether rawURL names a PostgreSQL database.
func IsPostgres(rawURL string) bool {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
}

// Open connects to the PostgreSQL database at rawURL; setting names where
// the URL came from, for errors.
func Open(ctx context.Context, setting, rawURL string) (*Schemas, error) {
	if !IsPostgres(rawURL) {
		return nil, fmt.Errorf("%s: want a postgres:// URL", setting)
	}
	base, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return nil, fmt.Errorf("%s is not a URL: %v", setting, err)
	}
	admin, err := store.Open(ctx, setting, base.String())
	if err != nil {
		return nil, err
	}
	// A random prefix, so that two runs on one database (two people, or a
	// run killed before it dropped its schemas) never share a schema.
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &Schemas{admin: admin, base: base, prefix: "orderflow_run_" + hex.EncodeToString(b)}, nil
}

// String names the database without its credentials.
func (s *Schemas) String() string { return s.admin.String() }

// DB is the connection to the database itself (outside the run's
// schemas), for reading the server's statistics.
func (s *Schemas) DB() *store.DB { return s.admin }

// durabilitySettings are the server settings that decide what a commit
// costs and what it promises, in the order Settings names them.
var durabilitySettings = []string{"fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "commit_delay"}

// Settings names the server's durability settings as name=value words,
// e.g. "fsync=on synchronous_commit=on full_page_writes=on ...": a figure
// measured with fsync off is not a figure for production.
func (s *Schemas) Settings(ctx context.Context) (string, error) {
	words := make([]string, 0, len(durabilitySettings))
	for _, name := range durabilitySettings {
		var v string
		if err := s.admin.QueryRow(ctx, `SELECT current_setting('`+name+`')`).Scan(&v); err != nil {
			return "", fmt.Errorf("scratchdb: reading %s from %s: %w", name, s.admin, err)
		}
		words = append(words, name+"="+v)
	}
	return strings.Join(words, " "), nil
}

var notIdentifier = regexp.MustCompile(`[^a-z0-9]+`)

// URL creates a fresh schema labelled label and returns the database URL
// that puts a connection in it.
func (s *Schemas) URL(ctx context.Context, label string) (string, error) {
	label = strings.Trim(notIdentifier.ReplaceAllString(strings.ToLower(label), "_"), "_")
	if label == "" {
		return "", errors.New("scratchdb: empty schema label")
	}
	schema := s.prefix + "_" + label
	if len(schema) > 63 { // PostgreSQL truncates longer identifiers: two labels could meet
		return "", fmt.Errorf("scratchdb: label %q too long", label)
	}
	create := `CREATE SCHEMA ` + schema
	if s.kept {
		if s.fresh {
			if _, err := s.admin.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
				return "", fmt.Errorf("scratchdb: drop schema %s in %s: %w", schema, s.admin, err)
			}
		}
		create = `CREATE SCHEMA IF NOT EXISTS ` + schema
	}
	if _, err := s.admin.Exec(ctx, create); err != nil {
		return "", fmt.Errorf("scratchdb: create schema %s in %s: %w", schema, s.admin, err)
	}
	if !s.kept {
		s.made = append(s.made, schema)
	}
	u := *s.base
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Drop drops every schema made so far, with its tables.
func (s *Schemas) Drop(ctx context.Context) error {
	var errs []error
	for _, schema := range s.made {
		if _, err := s.admin.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			errs = append(errs, fmt.Errorf("scratchdb: drop schema %s: %w", schema, err))
		}
	}
	s.made = nil
	return errors.Join(errs...)
}

// Close drops the schemas and disconnects.
func (s *Schemas) Close(ctx context.Context) error {
	err := s.Drop(ctx)
	return errors.Join(err, s.admin.Close())
}
