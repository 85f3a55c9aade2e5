package source

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// A Spool keeps the dead letters that the dead-letter sink did not take:
// refused for good, or failing for longer than the hold limit. Once a
// letter is in the spool its record's offset may be committed, so the
// partition moves on; the source keeps offering spooled letters to the
// dead-letter sink and removes each one it accepts.
//
// Knative's dispatcher commits and drops the event in these cases (its
// logs say so). The spool is how the plane keeps "nothing is lost" without
// letting one record stop a partition.
type Spool interface {
	// Put stores a letter durably before it returns nil.
	Put(Unsent) error
	// List returns the letters of one source (namespace/name), oldest first.
	List(source string) ([]Unsent, error)
	// Remove deletes a letter once the dead-letter sink accepted it.
	Remove(source, id string) error
}

// Unsent is a dead letter waiting in the spool.
type Unsent struct {
	ID      string    `json:"id"`     // <topic>/<partition>/<offset>[/<copy>]
	Source  string    `json:"source"` // namespace/name of the KafkaSource
	Record  Record    `json:"record"`
	Spooled time.Time `json:"spooled"`
	Reason  string    `json:"reason"` // why the dead-letter sink did not take it
	Event   Stored    `json:"event"`  // the dead letter, as it would have been sent
}

// Stored is an event kept byte-exact in JSON: every attribute and
// extension as the bytes of its canonical string (base64 in JSON), so
// invalid UTF-8 survives, which the CloudEvents JSON format does not
// promise.
type Stored struct {
	Attributes map[string][]byte `json:"attributes"`
	Extensions map[string][]byte `json:"extensions,omitempty"`
	Data       []byte            `json:"data,omitempty"`
}

// Store turns an event into its stored form.
func Store(e event.Event) Stored {
	s := Stored{Attributes: map[string][]byte{"specversion": []byte(e.SpecVersion()), "id": []byte(e.ID()),
		"source": []byte(e.Source()), "type": []byte(e.Type())}, Data: e.Data()}
	for k, v := range map[string]string{"subject": e.Subject(), "datacontenttype": e.DataContentType(), "dataschema": e.DataSchema()} {
		if v != "" {
			s.Attributes[k] = []byte(v)
		}
	}
	if !e.Time().IsZero() {
		s.Attributes["time"] = []byte(types.FormatTime(e.Time()))
	}
	for k, v := range e.Extensions() {
		str, err := types.Format(v)
		if err != nil {
			str = fmt.Sprint(v)
		}
		if s.Extensions == nil {
			s.Extensions = map[string][]byte{}
		}
		s.Extensions[k] = []byte(str)
	}
	return s
}

// Event rebuilds the stored event.
func (s Stored) Event() (event.Event, error) {
	e := event.New(string(s.Attributes["specversion"]))
	e.SetID(string(s.Attributes["id"]))
	e.SetSource(string(s.Attributes["source"]))
	e.SetType(string(s.Attributes["type"]))
	if v, ok := s.Attributes["subject"]; ok {
		e.SetSubject(string(v))
	}
	if v, ok := s.Attributes["datacontenttype"]; ok {
		e.SetDataContentType(string(v))
	}
	if v, ok := s.Attributes["dataschema"]; ok {
		e.SetDataSchema(string(v))
	}
	if v, ok := s.Attributes["time"]; ok {
		t, err := types.ParseTime(string(v))
		if err != nil {
			return e, fmt.Errorf("stored time %q: %w", v, err)
		}
		e.SetTime(t)
	}
	for k, v := range s.Extensions {
		if err := e.Context.SetExtension(k, string(v)); err != nil {
			return e, fmt.Errorf("stored extension %q: %w", k, err)
		}
	}
	if s.Data != nil {
		e.DataEncoded = s.Data
	}
	return e, nil
}

// FileSpool keeps each source's letters in <dir>/<namespace>_<name>.jsonl,
// one JSON object per line, written with fsync: a letter in the file
// survives a crash of the plane and is offered again when it restarts on
// the same state directory.
type FileSpool struct {
	dir string
	mu  sync.Mutex
}

// NewFileSpool uses dir (created if missing).
func NewFileSpool(dir string) (*FileSpool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dead-letter spool %s: %w", dir, err)
	}
	return &FileSpool{dir: dir}, nil
}

// Dir is where the files are.
func (f *FileSpool) Dir() string { return f.dir }

func (f *FileSpool) path(source string) string {
	return filepath.Join(f.dir, strings.ReplaceAll(source, "/", "_")+".jsonl")
}

func (f *FileSpool) Put(u Unsent) error {
	line, err := json.Marshal(u)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return writeSynced(f.path(u.Source), os.O_CREATE|os.O_APPEND|os.O_WRONLY, append(line, '\n'))
}

func (f *FileSpool) List(source string) ([]Unsent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read(source)
}

func (f *FileSpool) read(source string) ([]Unsent, error) {
	b, err := os.ReadFile(f.path(source))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Unsent
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var u Unsent
		if err := json.Unmarshal(sc.Bytes(), &u); err != nil {
			// A torn last line (crash mid-write, before the fsync that
			// would have made Put return) was never acknowledged: skip it.
			continue
		}
		out = append(out, u)
	}
	return out, sc.Err()
}

func (f *FileSpool) Remove(source, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	all, err := f.read(source)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, u := range all {
		if u.ID == id {
			continue
		}
		line, err := json.Marshal(u)
		if err != nil {
			return err
		}
		buf.Write(append(line, '\n'))
	}
	tmp := f.path(source) + ".tmp"
	if err := writeSynced(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, buf.Bytes()); err != nil {
		return err
	}
	return os.Rename(tmp, f.path(source))
}

// writeSynced writes b to path opened with flag and returns once it is on
// disk (fsync): what Put acknowledges must survive a crash.
func writeSynced(path string, flag int, b []byte) error {
	file, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return err
	}
	if _, err := file.Write(b); err != nil {
		file.Close()
		return err
	}
	if err := file.Sync(); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

// MemorySpool keeps letters in memory: what a Source uses when it is not
// given a spool. They are lost with the process, which the source says in
// its log when it puts one there.
type MemorySpool struct {
	mu      sync.Mutex
	letters map[string][]Unsent
}

func NewMemorySpool() *MemorySpool { return &MemorySpool{letters: map[string][]Unsent{}} }

func (m *MemorySpool) Put(u Unsent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.letters[u.Source] = append(m.letters[u.Source], u)
	return nil
}

func (m *MemorySpool) List(source string) ([]Unsent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]Unsent(nil), m.letters[source]...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Spooled.Before(out[j].Spooled) })
	return out, nil
}

func (m *MemorySpool) Remove(source, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := m.letters[source][:0]
	for _, u := range m.letters[source] {
		if u.ID != id {
			kept = append(kept, u)
		}
	}
	m.letters[source] = kept
	return nil
}
