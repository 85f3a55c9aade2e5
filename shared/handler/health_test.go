package handler_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/store/storetest"
)

// A function whose store cannot write (its disk full, for real: a small
// tmpfs filled to the last byte) answers deliveries 503, retried, not a
// refusal, and reports not ready saying why and where; once space is
// freed it is ready again by itself and takes the deliveries.
func TestAFunctionOnAFullDiskIsNotReadyUntilItWrites(t *testing.T) {
	disk := storetest.SmallDisk(t, "4m")
	p := newProbe()
	h := handlertest.Start(t, p, map[string]string{"ORDERFLOW_DATABASE_URL": "sqlite://" + filepath.Join(disk, "probe.db")})
	readiness := func() (int, string) {
		resp, err := http.Get(h.URL + "/health/readiness")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	place := func(id string) handlertest.Reply {
		return h.Send(t, handlertest.Event(t, events.PlaceOrder, placeData(id), nil))
	}
	if r := place("o-before"); r.Status != http.StatusOK {
		t.Fatalf("before the disk filled: %d %s", r.Status, r.Body)
	}
	free := storetest.Fill(t, disk)
	var r handlertest.Reply
	for i := 0; i < 200; i++ {
		if r = place("o-full-" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26))); r.Status != http.StatusOK {
			break
		}
	}
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Error().Error, handler.StoreCannotWrite+" (disk full)") {
		t.Fatalf("a delivery on the full disk: %d %s, want 503 saying the store cannot write", r.Status, r.Body)
	}
	code, body := readiness()
	if code == http.StatusOK || !strings.Contains(body, handler.StoreCannotWrite) || !strings.Contains(body, disk) || !strings.Contains(body, "free of") {
		t.Fatalf("readiness on the full disk: %d %q, want not ready naming the store's folder and its space", code, body)
	}
	free()
	deadline := time.Now().Add(30 * time.Second)
	for code != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("still not ready 30 s after space was freed: %d %q", code, body)
		}
		time.Sleep(100 * time.Millisecond)
		code, body = readiness()
	}
	if r := place("o-after"); r.Status != http.StatusOK {
		t.Fatalf("after space was freed: %d %s", r.Status, r.Body)
	}
}
