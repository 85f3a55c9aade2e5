package cedecode

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
)

func TestToEventSurvivesWhatTheSDKPanicsOn(t *testing.T) {
	for body, wantErr := range map[string]string{
		`{"specversion":"1.0","id":"a","source":"/s","type":"t","data_base64":5}`:      "could not read this event",
		`{"specversion":"1.0","id":"a","source":"/s","type":"t","data_base64":"aGk="}`: "",
	} {
		m := kafka_sarama.NewMessage([]byte(body), "application/cloudevents+json", nil)
		e, err := ToEvent(context.Background(), m)
		switch {
		case wantErr == "" && (err != nil || e == nil):
			t.Errorf("%s: %v, want the event", body, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%s: %v, want an error saying %q", body, err, wantErr)
		}
	}
}

// envelope.go is shared/ce's, copied: the two must not drift apart.
func TestEnvelopeIsSharedsTwin(t *testing.T) {
	ours, err := os.ReadFile("envelope.go")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := os.ReadFile(filepath.Join("..", "..", "shared", "ce", "envelope.go"))
	if err != nil {
		t.Fatal(err)
	}
	body := func(b []byte) string {
		_, rest, _ := strings.Cut(string(b), "\n")
		return rest
	}
	if body(ours) != body(theirs) {
		t.Fatal("knlocal/cedecode/envelope.go and shared/ce/envelope.go differ beyond the package clause: change both")
	}
}
