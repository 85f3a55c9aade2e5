package ce

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

func TestChildTraceparent(t *testing.T) {
	parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	child := ChildTraceparent(parent)
	if !strings.HasPrefix(child, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasSuffix(child, "-01") || child == parent {
		t.Fatalf("child %s", child)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		fresh := ChildTraceparent(bad)
		if TraceID(fresh) == "" || strings.Contains(fresh, "4bf92f") {
			t.Errorf("from %q: %s", bad, fresh)
		}
	}
}

func TestNewSenderRejectsBadTargets(t *testing.T) {
	for _, target := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		if _, err := NewSender("K_SINK", target); err == nil || !strings.Contains(err.Error(), "K_SINK") {
			t.Errorf("%q: %v", target, err)
		}
	}
}

// The relay decides from Send's error whether an event can ever go out:
// only a 4xx that Knative's data plane would not retry is permanent.
func TestSendTellsPermanentRefusalsFromTransientFailures(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	s, err := NewSender("K_SINK", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	e := event.New()
	e.SetID("1")
	e.SetType("t")
	e.SetSource("/s")
	tests := []struct {
		status    int
		rejected  bool
		permanent bool
	}{
		{http.StatusAccepted, false, false},
		{http.StatusBadRequest, true, true},
		{http.StatusRequestEntityTooLarge, true, true},
		{http.StatusUnprocessableEntity, true, true},
		{http.StatusNotFound, true, false},
		{http.StatusRequestTimeout, true, false},
		{http.StatusConflict, true, false},
		{http.StatusTooManyRequests, true, false},
		{http.StatusInternalServerError, true, false},
		{http.StatusServiceUnavailable, true, false},
	}
	for _, tt := range tests {
		status.Store(int32(tt.status))
		err := s.Send(context.Background(), e)
		if (err == nil) == tt.rejected || errors.Is(err, ErrRejected) != tt.rejected || IsPermanent(err) != tt.permanent {
			t.Errorf("%d: err %v, permanent %v; want rejected %v, permanent %v", tt.status, err, IsPermanent(err), tt.rejected, tt.permanent)
		}
		if tt.rejected && !strings.Contains(err.Error(), strconv.Itoa(tt.status)) {
			t.Errorf("%d: the error does not name the status: %v", tt.status, err)
		}
	}
	srv.Close()
	if err := s.Send(context.Background(), e); err == nil || errors.Is(err, ErrRejected) || IsPermanent(err) {
		t.Errorf("no answer at all: %v, want a transient failure", err)
	}
}
