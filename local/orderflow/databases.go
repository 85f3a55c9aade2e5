package orderflow

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"orderflow.dev/knlocal/manifests"
)

// DatabaseSecret is the Secret each function's func.yaml takes its store
// URLs from on a cluster (knative/base/config.yaml): one key per database.
const DatabaseSecret = "orderflow-db"

// Database is one store URL a function reads: the variable it reads it
// from, and the key of DatabaseSecret that fills it on a cluster.
type Database struct {
	Env string // ORDERFLOW_DATABASE_URL, PAYMENT_GATEWAY_DATABASE_URL, ...
	Key string // order, payment-gateway, ...
}

var databaseRef = regexp.MustCompile(`^{{\s*secret:` + DatabaseSecret + `:([-._a-zA-Z0-9]+)\s*}}$`)

// Databases reads from the func.yaml of the function called name, under
// functionsDir, every store URL it takes from DatabaseSecret: what the
// local plane (and a test or bench on PostgreSQL) must give it instead.
func Databases(functionsDir, name string) ([]Database, error) {
	fy, err := manifests.LoadFunc(filepath.Join(functionsDir, name))
	if err != nil {
		return nil, err
	}
	var out []Database
	for _, e := range fy.Envs {
		if m := databaseRef.FindStringSubmatch(strings.TrimSpace(e.Value)); m != nil && e.Name != "" {
			out = append(out, Database{Env: e.Name, Key: m[1]})
		}
	}
	return out, nil
}

// DatabaseEnv gives every function of functions its databases, as plane
// environment entries (FUNCTION/VAR=URL): url names the database of one
// DatabaseSecret key (its own file, a schema of its own). A database two
// functions share by key gets one URL.
func DatabaseEnv(functionsDir string, functions []string, url func(key string) (string, error)) (map[string]string, error) {
	env := map[string]string{}
	urls := map[string]string{}
	for _, fn := range slices.Sorted(slices.Values(functions)) {
		dbs, err := Databases(functionsDir, fn)
		if err != nil {
			return nil, err
		}
		for _, db := range dbs {
			u, ok := urls[db.Key]
			if !ok {
				if u, err = url(db.Key); err != nil {
					return nil, fmt.Errorf("database %s of %s: %w", db.Key, fn, err)
				}
				urls[db.Key] = u
			}
			env[fn+"/"+db.Env] = u
		}
	}
	return env, nil
}
