// Package eventlog reads event logs as the domain topics hold them:
// structured CloudEvents, one JSON object a line, in publication order.
// It locates the logs committed in shared/events/testdata (see the
// README there): the facts the tree before order.created.v2 published,
// and the same facts with order.created in v2, which tests replay to prove
// that a log holding both versions gives the same state as v2 only, and
// which an end-to-end test can produce into Kafka as they are.
package eventlog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/shared/ce"
)

// The committed logs, by file name.
const (
	V1 = "v1-log.jsonl"
	V2 = "v2-log.jsonl"
)

// Committed returns the path of a committed log. It is found beside this
// package's source, so it works from any module of the workspace.
func Committed(name string) (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("eventlog: cannot locate its own source to find %s", name)
	}
	return filepath.Join(filepath.Dir(self), "..", "testdata", name), nil
}

// ReadFile reads a log from a file.
func ReadFile(path string) ([]event.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// Read reads a log: one structured CloudEvent per line, each valid.
func Read(r io.Reader) ([]event.Event, error) {
	var out []event.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Mix takes two logs of the same facts in the same order (V1 and V2) and
// returns one whose every record comes from a when fromA says so for its
// order (the partitionkey), else from b.
func Mix(a, b []event.Event, fromA func(orderID string) bool) ([]event.Event, error) {
	if len(a) != len(b) {
		return nil, fmt.Errorf("eventlog: mixing logs of %d and %d records", len(a), len(b))
	}
	out := make([]event.Event, len(a))
	for i := range a {
		if a[i].ID() != b[i].ID() {
			return nil, fmt.Errorf("eventlog: record %d is %s in one log, %s in the other", i+1, a[i].ID(), b[i].ID())
		}
		out[i] = b[i]
		if fromA(ce.String(a[i], ce.PartitionKey)) {
			out[i] = a[i]
		}
	}
	return out, nil
}
