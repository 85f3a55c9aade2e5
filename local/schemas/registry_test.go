package schemas

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"orderflow.dev/shared/events/compat"
)

// standInRegistry is NOT a real schema registry: no registry could be run
// on this machine (see docs/schemas.md). It implements
// the four endpoints `schemas push` uses the way Confluent Schema Registry
// documents them (status codes, error_code bodies, idempotent
// registration, 404 before the first version, AVRO as the default
// schemaType), so the client's side of the protocol is tested. Its
// compatibility verdicts are scripted by the test (verdict), not computed:
// computing them with our own checker would only test us against
// ourselves.
type standInRegistry struct {
	mu       sync.Mutex
	config   map[string]string
	subjects map[string][]string
	ids      map[string]int
	nextID   int
	verdict  func(subject, schema string) (bool, []string)
	requests []string
}

func newStandIn(verdict func(subject, schema string) (bool, []string)) (*standInRegistry, *httptest.Server) {
	r := &standInRegistry{config: map[string]string{}, subjects: map[string][]string{}, ids: map[string]int{}, nextID: 1, verdict: verdict}
	return r, httptest.NewServer(r)
}

func fail(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", registryContentType)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error_code": code, "message": msg})
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", registryContentType)
	json.NewEncoder(w).Encode(v)
}

func (r *standInRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req.Method+" "+req.URL.Path)
	if req.Method != http.MethodGet && !strings.HasPrefix(req.Header.Get("Content-Type"), registryContentType) {
		fail(w, http.StatusUnsupportedMediaType, 415, "Content-Type must be "+registryContentType)
		return
	}
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, "/"), "/")
	switch {
	case req.Method == http.MethodPut && len(parts) == 2 && parts[0] == "config":
		var body struct{ Compatibility string }
		if json.NewDecoder(req.Body).Decode(&body) != nil {
			fail(w, 422, 42203, "Invalid compatibility level")
			return
		}
		if _, err := compat.ParseMode(body.Compatibility); err != nil || body.Compatibility != strings.ToUpper(body.Compatibility) {
			fail(w, 422, 42203, "Invalid compatibility level")
			return
		}
		r.config[parts[1]] = body.Compatibility
		answer(w, map[string]string{"compatibility": body.Compatibility})
	case req.Method == http.MethodPost && len(parts) == 5 && parts[0] == "compatibility" && parts[1] == "subjects" && parts[3] == "versions" && parts[4] == "latest":
		schema, ok := r.schemaOf(w, req)
		if !ok {
			return
		}
		if len(r.subjects[parts[2]]) == 0 {
			fail(w, http.StatusNotFound, 40401, fmt.Sprintf("Subject '%s' not found.", parts[2]))
			return
		}
		okay, msgs := r.verdict(parts[2], schema)
		if req.URL.Query().Get("verbose") != "true" {
			msgs = nil
		}
		answer(w, map[string]any{"is_compatible": okay, "messages": msgs})
	case req.Method == http.MethodPost && len(parts) == 3 && parts[0] == "subjects" && parts[2] == "versions":
		schema, ok := r.schemaOf(w, req)
		if !ok {
			return
		}
		if id, seen := r.ids[parts[1]+"\x00"+schema]; seen {
			answer(w, map[string]int{"id": id})
			return
		}
		if len(r.subjects[parts[1]]) > 0 {
			if okay, _ := r.verdict(parts[1], schema); !okay {
				fail(w, http.StatusConflict, 409, "Schema being registered is incompatible with an earlier schema for subject \""+parts[1]+"\"")
				return
			}
		}
		id := r.nextID
		r.nextID++
		r.ids[parts[1]+"\x00"+schema] = id
		r.subjects[parts[1]] = append(r.subjects[parts[1]], schema)
		answer(w, map[string]int{"id": id})
	default:
		fail(w, http.StatusNotFound, 404, "HTTP 404 Not Found")
	}
}

func (r *standInRegistry) schemaOf(w http.ResponseWriter, req *http.Request) (string, bool) {
	var body struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body.Schema == "" {
		fail(w, 422, 42201, "Invalid schema")
		return "", false
	}
	if body.SchemaType != "JSON" {
		// The registry reads a schema without schemaType as Avro.
		fail(w, 422, 42201, "Invalid schema: not an Avro schema")
		return "", false
	}
	if !json.Valid([]byte(body.Schema)) {
		fail(w, 422, 42201, "Invalid schema")
		return "", false
	}
	return body.Schema, true
}

func TestPushRegistersTheCatalogWithEachFamilysRule(t *testing.T) {
	reg, srv := newStandIn(func(string, string) (bool, []string) { return true, nil })
	defer srv.Close()
	r, err := NewRegistry(srv.URL+"/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	fams, err := FromCatalog()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Push(context.Background(), &out, r, fams); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got := reg.config["dev.orderflow.order.created"]; got != "FORWARD_TRANSITIVE" {
		t.Errorf("order.created's subject config: %q", got)
	}
	if got := reg.config["dev.orderflow.payment.completed"]; got != "FULL_TRANSITIVE" {
		t.Errorf("payment.completed's subject config: %q", got)
	}
	versions := 0
	for _, f := range fams {
		versions += len(f.Versions)
		if len(reg.subjects[f.Name]) != len(f.Versions) {
			t.Errorf("%s: %d versions registered, want %d", f.Name, len(reg.subjects[f.Name]), len(f.Versions))
		}
	}
	if n := strings.Count(out.String(), "registered as subject"); n != versions {
		t.Errorf("%d registrations printed, want %d:\n%s", n, versions, out.String())
	}
	if !strings.Contains(out.String(), "dev.orderflow.order.created.v1") || !strings.Contains(out.String(), "registry: first version") {
		t.Errorf("output:\n%s", out.String())
	}
	// Pushing again is idempotent: the registry gives the same ids.
	before := reg.nextID
	out.Reset()
	if err := Push(context.Background(), &out, r, fams); err != nil {
		t.Fatalf("second push: %v\n%s", err, out.String())
	}
	if reg.nextID != before {
		t.Errorf("a second push registered new schemas")
	}
}

func TestPushReportsTheRegistrysVerdictBesideOurs(t *testing.T) {
	fixture := func(name string) []Family {
		fams, err := FromDir(filepath.Join(fixtures, name), compat.Backward)
		if err != nil {
			t.Fatal(err)
		}
		return fams
	}
	refuseAll := func(string, string) (bool, []string) {
		return false, []string{"#/properties/b: enum narrowed"}
	}
	acceptAll := func(string, string) (bool, []string) { return true, nil }
	for _, tt := range []struct {
		name     string
		fixture  string
		verdict  func(string, string) (bool, []string)
		wantErr  string
		wantOut  []string
		register int
	}{
		{"both refuse a break", "narrowed-enum", refuseAll,
			"dev.fixture.narrowed-enum.v2: not registered: POST /subjects/dev.fixture.narrowed-enum/versions: HTTP 409",
			[]string{"ours: BREAKING(1)", "registry: incompatible: #/properties/b: enum narrowed"}, 1},
		{"the registry accepts what we call a break", "narrowed-enum", acceptAll,
			"dev.fixture.narrowed-enum.v2: the registry says compatible, we say BREAKING(1)",
			[]string{"ours: BREAKING(1)", "registry: compatible"}, 2},
		{"the registry refuses what we accept", "widened-enum", refuseAll,
			"dev.fixture.widened-enum.v2: the registry says incompatible",
			[]string{"ours: compatible", "registry: incompatible"}, 1},
		{"both accept", "widened-enum", acceptAll, "", []string{"ours: compatible   registry: compatible"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg, srv := newStandIn(tt.verdict)
			defer srv.Close()
			r, err := NewRegistry(srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = Push(context.Background(), &out, r, fixture(tt.fixture))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q\n%s", err, tt.wantErr, out.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			subject := "dev.fixture." + tt.fixture
			if got := len(reg.subjects[subject]); got != tt.register {
				t.Errorf("%d versions registered, want %d", got, tt.register)
			}
			if reg.config[subject] != "BACKWARD" {
				t.Errorf("subject config %q", reg.config[subject])
			}
		})
	}
}

func TestRegistryURLAndTransportErrorsAreClear(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"", "set ORDERFLOW_SCHEMA_REGISTRY_URL"},
		{"localhost:8081", "not an http(s) URL with a host"},
		{"ftp://host/x", "not an http(s) URL with a host"},
	} {
		if _, err := NewRegistry(tt.url, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewRegistry(%q): %v, want %q", tt.url, err, tt.want)
		}
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	r, err := NewRegistry(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	fams, err := FromDir(filepath.Join(fixtures, "widened-enum"), "")
	if err != nil {
		t.Fatal(err)
	}
	err = Push(context.Background(), &bytes.Buffer{}, r, fams)
	if err == nil || !strings.Contains(err.Error(), "set compatibility FULL_TRANSITIVE") || !strings.Contains(err.Error(), "PUT /config/dev.fixture.widened-enum") {
		t.Errorf("push to a closed port: %v", err)
	}
}
