package store

import (
	"context"
	"fmt"
)

// Projection versions. A read model built by one version of a projection's
// code must not be extended by another: the rows would mix two meanings
// (windows keyed by event id beside windows keyed by fact, say) and no
// query could tell them apart. Each projection therefore has a version in
// the code and one recorded in the store; when they differ the function
// refuses to start, naming the projection and the replay that rebuilds it.

// Projection names one read model of a component and the version of the
// code that builds it. Tables are the tables it fills: a store whose
// tables are all empty has nothing built yet, so it takes the code's
// version without a rebuild.
type Projection struct {
	Name    string
	Version int
	Tables  []string
}

// ProjectionMigrations create the table of recorded versions. The handler
// applies them with the edge's own, as component "orderflow-projections".
var ProjectionMigrations = []string{
	`CREATE TABLE orderflow_projections (
		component  TEXT    NOT NULL,
		projection TEXT    NOT NULL,
		version    INTEGER NOT NULL,
		built_at   BIGINT  NOT NULL,
		PRIMARY KEY (component, projection)
	)`,
}

// UnversionedProjection is the version a projection is taken to have when
// its tables hold rows but no version was ever recorded: they were built
// before projections carried versions, by the first version of the code.
const UnversionedProjection = 1

// ProjectionVersionError is a projection whose stored rows were built by
// another version of its code.
type ProjectionVersionError struct {
	Component, Projection string
	Stored, Code          int
}

func (e *ProjectionVersionError) Error() string {
	return fmt.Sprintf("projection %s/%s in the store was built by version %d, the code builds version %d: "+
		"rebuild it from the log (orderflow replay %s --database NEW_URL, then point the function at NEW_URL; see docs/replay.md)",
		e.Component, e.Projection, e.Stored, e.Code, e.Component)
}

// CheckProjections compares every projection's version in the store with
// the code's. A projection with no recorded version gets the code's when
// its tables are empty (a fresh store) and is taken as
// UnversionedProjection otherwise. It returns a *ProjectionVersionError
// for the first that differs and changes nothing then.
func (db *DB) CheckProjections(ctx context.Context, component string, ps []Projection) error {
	return db.InTx(ctx, func(tx *Tx) error {
		for _, p := range ps {
			stored, known, err := storedVersion(ctx, tx, component, p.Name)
			if err != nil {
				return err
			}
			if !known {
				empty, err := tablesEmpty(ctx, tx, p.Tables)
				if err != nil {
					return err
				}
				if !empty {
					stored, known = UnversionedProjection, true
				}
			}
			if known && stored != p.Version {
				return &ProjectionVersionError{Component: component, Projection: p.Name, Stored: stored, Code: p.Version}
			}
			if !known {
				// Replicas starting together on a fresh store each find no
				// version: the first records it, the others find it then.
				if _, err := tx.Exec(ctx, `INSERT INTO orderflow_projections (component, projection, version, built_at) VALUES (?, ?, ?, ?)
					ON CONFLICT (component, projection) DO NOTHING`,
					component, p.Name, p.Version, NowMillis()); err != nil {
					return err
				}
				if stored, _, err = storedVersion(ctx, tx, component, p.Name); err != nil {
					return err
				}
				if stored != p.Version {
					return &ProjectionVersionError{Component: component, Projection: p.Name, Stored: stored, Code: p.Version}
				}
			}
		}
		return nil
	})
}

// ProjectionVersion returns the version recorded for a projection, false
// when none is.
func (db *DB) ProjectionVersion(ctx context.Context, component, projection string) (version int, known bool, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		version, known, err = storedVersion(ctx, tx, component, projection)
		return err
	})
	return version, known, err
}

func storedVersion(ctx context.Context, tx *Tx, component, projection string) (int, bool, error) {
	rows, err := tx.Query(ctx, `SELECT version FROM orderflow_projections WHERE component = ? AND projection = ?`, component, projection)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, false, rows.Err()
	}
	var v int
	err = rows.Scan(&v)
	return v, err == nil, err
}

func tablesEmpty(ctx context.Context, tx *Tx, tables []string) (bool, error) {
	for _, t := range tables {
		var one int
		rows, err := tx.Query(ctx, `SELECT 1 FROM `+t+` LIMIT 1`)
		if err != nil {
			return false, fmt.Errorf("projection table %s: %w", t, err)
		}
		found := rows.Next()
		if found {
			err = rows.Scan(&one)
		}
		rows.Close()
		if err != nil {
			return false, err
		}
		if found {
			return false, nil
		}
	}
	return true, nil
}
