package schemas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"orderflow.dev/shared/events/compat"
)

// RegistryURLEnv names the Confluent-compatible schema registry that
// `orderflow schemas push` registers the families with (for Apicurio
// Registry: its ccompat API, e.g. http://host:8080/apis/ccompat/v7).
const RegistryURLEnv = "ORDERFLOW_SCHEMA_REGISTRY_URL"

const registryContentType = "application/vnd.schemaregistry.v1+json"

// Registry speaks the few endpoints of the Confluent Schema Registry API
// that pushing needs.
type Registry struct {
	Base   *url.URL
	Client *http.Client
}

// NewRegistry checks the base URL: an absolute http(s) URL.
func NewRegistry(base string, client *http.Client) (*Registry, error) {
	if strings.TrimSpace(base) == "" {
		return nil, fmt.Errorf("no schema registry: set %s to its URL (Confluent-compatible API, e.g. http://localhost:8081 or Apicurio's .../apis/ccompat/v7)", RegistryURLEnv)
	}
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", RegistryURLEnv, base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s=%q: not an http(s) URL with a host", RegistryURLEnv, base)
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &Registry{Base: u, Client: client}, nil
}

// RegistryError is a non-2xx answer, with the registry's own error code
// and message when it gave them.
type RegistryError struct {
	Method, Path string
	Status       int
	Code         int
	Message      string
}

func (e *RegistryError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d (error_code %d): %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

func (r *Registry) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.Base.String()+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", registryContentType+", application/json")
	if body != nil {
		req.Header.Set("Content-Type", registryContentType)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
		}
		return &RegistryError{Method: method, Path: path, Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: answer is not the expected JSON: %w (%.200s)", method, path, err, raw)
		}
	}
	return nil
}

func subjectPath(subject string) string { return url.PathEscape(subject) }

// SetCompatibility sets a subject's rule (PUT /config/{subject}).
func (r *Registry) SetCompatibility(ctx context.Context, subject string, mode compat.Mode) error {
	var out struct {
		Compatibility string `json:"compatibility"`
	}
	return r.do(ctx, http.MethodPut, "/config/"+subjectPath(subject), map[string]string{"compatibility": string(mode)}, &out)
}

type schemaRequest struct {
	Schema     string `json:"schema"`
	SchemaType string `json:"schemaType"`
}

// RegistryVerdict is the registry's own answer to "may this schema follow
// the subject's latest version?".
type RegistryVerdict struct {
	// FirstVersion: the subject has no version yet, so there is nothing
	// to be compatible with (the registry answers 404 then).
	FirstVersion bool
	Compatible   bool
	Messages     []string
}

func (v RegistryVerdict) String() string {
	switch {
	case v.FirstVersion:
		return "first version"
	case v.Compatible:
		return "compatible"
	case len(v.Messages) > 0:
		return "incompatible: " + strings.Join(v.Messages, "; ")
	default:
		return "incompatible"
	}
}

// Compatible asks POST /compatibility/subjects/{subject}/versions/latest.
func (r *Registry) Compatible(ctx context.Context, subject string, schema []byte) (RegistryVerdict, error) {
	var out struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	err := r.do(ctx, http.MethodPost, "/compatibility/subjects/"+subjectPath(subject)+"/versions/latest?verbose=true",
		schemaRequest{Schema: string(schema), SchemaType: "JSON"}, &out)
	var re *RegistryError
	// 40401 subject not found, 40402 version not found: nothing registered yet.
	if errors.As(err, &re) && re.Status == http.StatusNotFound {
		return RegistryVerdict{FirstVersion: true, Compatible: true}, nil
	}
	if err != nil {
		return RegistryVerdict{}, err
	}
	return RegistryVerdict{Compatible: out.IsCompatible, Messages: out.Messages}, nil
}

// Register adds a schema to a subject (POST /subjects/{subject}/versions)
// and returns its global id; the registry answers 409 to one that breaks
// the subject's rule, and the id already given to an identical schema.
func (r *Registry) Register(ctx context.Context, subject string, schema []byte) (int, error) {
	var out struct {
		ID int `json:"id"`
	}
	if err := r.do(ctx, http.MethodPost, "/subjects/"+subjectPath(subject)+"/versions",
		schemaRequest{Schema: string(schema), SchemaType: "JSON"}, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

// Push registers every version of every family, oldest first, under the
// subject named after the family: it sets the subject's compatibility to
// the family's rule, asks the registry's own compatibility endpoint before
// each registration and prints its verdict beside ours. It stops at the
// first family the registry refuses, and returns an error when the registry
// refused anything or disagreed with our verdict.
func Push(ctx context.Context, w io.Writer, r *Registry, families []Family) error {
	var problems []string
	for _, f := range families {
		if err := r.SetCompatibility(ctx, f.Name, f.Rule); err != nil {
			return fmt.Errorf("family %s: set compatibility %s: %w", f.Name, f.Rule, err)
		}
		findings := compat.CheckFamily(f.Rule, versionsOf(f))
		for _, v := range f.Versions {
			ours := ourVerdict(findings, v.Type)
			theirs, err := r.Compatible(ctx, f.Name, v.Raw)
			if err != nil {
				return fmt.Errorf("%s: %w", v.Type, err)
			}
			fmt.Fprintf(w, "%-44s %-20s ours: %-12s registry: %s\n", v.Type, f.Rule, ours, theirs)
			if !theirs.FirstVersion && theirs.Compatible != (ours == "compatible") {
				problems = append(problems, fmt.Sprintf("%s: the registry says %s, we say %s", v.Type, theirs, ours))
			}
			id, err := r.Register(ctx, f.Name, v.Raw)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: not registered: %v", v.Type, err))
				fmt.Fprintf(w, "    not registered: %v\n", err)
				break // later versions would be held against a history that lacks this one
			}
			fmt.Fprintf(w, "    registered as subject %s, schema id %d\n", f.Name, id)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("schemas push: %s", strings.Join(problems, "; "))
	}
	return nil
}

// ourVerdict: what the checker says of one version against those before it.
func ourVerdict(findings []compat.Finding, typ string) string {
	n := 0
	for _, f := range findings {
		if f.New == typ {
			n++
		}
	}
	if n == 0 {
		return "compatible"
	}
	return fmt.Sprintf("BREAKING(%d)", n)
}
