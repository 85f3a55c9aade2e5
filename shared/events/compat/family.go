package compat

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
)

// versionSuffix is the trailing major version of a type name: ".v2".
var versionSuffix = regexp.MustCompile(`^(.+)\.v([1-9][0-9]*)$`)

// SplitType splits "dev.orderflow.order.created.v2" into its family
// "dev.orderflow.order.created" and version 2. A name without a version
// suffix (a foreign type such as dev.knative.sources.ping) is a family of
// one unversioned schema: version 0, ok false.
func SplitType(typ string) (family string, version int, ok bool) {
	m := versionSuffix.FindStringSubmatch(typ)
	if m == nil {
		return typ, 0, false
	}
	v, err := strconv.Atoi(m[2])
	if err != nil {
		return typ, 0, false
	}
	return m[1], v, true
}

// Version is one schema of a family.
type Version struct {
	Type   string // the full type name, e.g. dev.orderflow.order.created.v2
	Number int    // 2; 0 for an unversioned type
	Schema *Schema
}

// Finding is a change between two versions of a family.
type Finding struct {
	Old, New string // type names of the two versions compared
	Change
}

func (f Finding) String() string {
	return fmt.Sprintf("%s -> %s: %s", f.Old, f.New, f.Change)
}

// CheckFamily holds every version against its predecessor (or, for the
// transitive rules, against every earlier version), as a registry does when
// each version is registered in turn. Versions must be of one family; they
// are sorted here.
func CheckFamily(mode Mode, versions []Version) []Finding {
	vs := append([]Version(nil), versions...)
	sort.Slice(vs, func(i, j int) bool { return vs[i].Number < vs[j].Number })
	var out []Finding
	if mode == None {
		return nil
	}
	for i := 1; i < len(vs); i++ {
		first := i - 1
		if mode.Transitive() {
			first = 0
		}
		for j := first; j < i; j++ {
			for _, c := range CheckPair(mode, vs[j].Schema, vs[i].Schema) {
				out = append(out, Finding{Old: vs[j].Type, New: vs[i].Type, Change: c})
			}
		}
	}
	return out
}
