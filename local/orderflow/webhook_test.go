package orderflow

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, w *Webhook, key string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(`{"id":"ntf-o-confirmed","orderId":"o","outcome":"confirmed","to":"c@example.org"}`))
	req.Header.Set("Idempotency-Key", key)
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("POST with key %s: %d %s", key, rec.Code, rec.Body)
	}
}

// A resend within the key memory counts once; the keys held stay bounded
// by two generations however many notifications pass; a resend after
// both generations have gone counts again (the documented limit).
func TestWebhookCountsResendsOnceAndForgetsOldKeys(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	w := NewWebhook()
	w.now, w.rotated = func() time.Time { return now }, now

	post(t, w, "a")
	post(t, w, "a") // a resend, at once
	now = now.Add(DefaultKeyMemory + time.Second)
	post(t, w, "a") // after one rotation: still in the previous generation
	post(t, w, "b")
	if s := w.Stats(); s.Received != 4 || s.Distinct != 2 {
		t.Fatalf("received %d distinct %d, want 4 and 2", s.Received, s.Distinct)
	}

	// Many keys over many generations: memory holds at most two generations.
	for gen := range 5 {
		now = now.Add(DefaultKeyMemory)
		for i := range 1000 {
			post(t, w, fmt.Sprintf("g%d-%d", gen, i))
		}
		if held := len(w.keys) + len(w.prev); held > 2000 {
			t.Fatalf("generation %d: %d keys held, want at most two generations (2000)", gen, held)
		}
	}
	if s := w.Stats(); s.Distinct != 2+5000 {
		t.Fatalf("distinct %d, want %d", s.Distinct, 2+5000)
	}

	// "a" was last seen three generations ago: forgotten, so it counts anew.
	post(t, w, "a")
	if s := w.Stats(); s.Distinct != 2+5000+1 {
		t.Fatalf("distinct %d after a resend older than the key memory, want %d", s.Distinct, 2+5000+1)
	}
	// A quiet spell of two generations forgets everything at once.
	now = now.Add(2 * DefaultKeyMemory)
	post(t, w, "g4-1")
	if s := w.Stats(); s.Distinct != 2+5000+2 || len(w.prev) != 0 {
		t.Fatalf("distinct %d, previous generation %d keys, after a quiet spell: want %d and 0", s.Distinct, len(w.prev), 2+5000+2)
	}
}

// What is not a notification is refused with a JSON reason naming the
// field, and not counted: a provider does not take a message it cannot
// send.
func TestWebhookRefusesWhatIsNotANotification(t *testing.T) {
	good := `{"id":"ntf-o-confirmed","orderId":"o","outcome":"confirmed","to":"c@example.org"}`
	for _, c := range []struct {
		name, body, key string
		status          int
		field           string
	}{
		{"empty", "", "k", http.StatusBadRequest, "body"},
		{"not JSON", "not json", "k", http.StatusBadRequest, "body"},
		{"an array", "[]", "k", http.StatusBadRequest, "body"},
		{"null", "null", "k", http.StatusBadRequest, "body"},
		{"another object", `{"x":1}`, "k", http.StatusBadRequest, "id"},
		{"no recipient", `{"id":"n","orderId":"o","outcome":"confirmed"}`, "k", http.StatusBadRequest, "to"},
		{"a number for a string", `{"id":"n","orderId":7,"outcome":"confirmed","to":"c@example.org"}`, "k", http.StatusBadRequest, "orderId"},
		{"no Idempotency-Key", good, "", http.StatusBadRequest, "Idempotency-Key"},
		{"too large", `{"id":"` + strings.Repeat("a", maxNotification) + `"}`, "k", http.StatusRequestEntityTooLarge, "body"},
	} {
		w := NewWebhook()
		req := httptest.NewRequest(http.MethodPost, "/webhook", strings.NewReader(c.body))
		if c.key != "" {
			req.Header.Set("Idempotency-Key", c.key)
		}
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, req)
		var answer map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || rec.Code != c.status || answer["field"] != c.field || answer["error"] == "" {
			t.Errorf("%s: %d %s, want %d naming %s", c.name, rec.Code, rec.Body, c.status, c.field)
		}
		if s := w.Stats(); s.Received != 0 {
			t.Errorf("%s: counted (%+v)", c.name, s)
		}
	}
}
