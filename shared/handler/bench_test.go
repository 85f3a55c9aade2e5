package handler_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handler"
	"orderflow.dev/shared/handlertest"
)

// BenchmarkDelivery is the per-event cost of the edge on SQLite: decode the
// HTTP request, check the schema, record the processed id, run the
// reaction, build the outgoing event and write it to the outbox, commit.
// Publishing is not included (the relay runs apart from the request).
func BenchmarkDelivery(b *testing.B) {
	p := newProbe()
	h := handlertest.Start(b, p, nil)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		e := handlertest.Event(b, events.PlaceOrder, placeData(fmt.Sprintf("o-%d", i)), nil)
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
			b.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.F.Handle(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkDeliveryConcurrent is BenchmarkDelivery with deliveries
// arriving at once, as a KafkaSource sends them: one event in flight per
// partition, six partitions per topic and several topics per function. So
// 8 goroutines per CPU, each delivering one event after the other; ns/op is
// wall time per delivery.
func BenchmarkDeliveryConcurrent(b *testing.B) {
	p := newProbe()
	h := handlertest.Start(b, p, nil)
	var orders atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := handlertest.Event(b, events.PlaceOrder, placeData(fmt.Sprintf("o-%d", orders.Add(1))), nil)
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
				b.Error(err)
				return
			}
			rec := httptest.NewRecorder()
			h.F.Handle(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("%d %s", rec.Code, rec.Body)
				return
			}
		}
	})
}

// BenchmarkDeliveryNoEmit is the edge alone: the same delivery, whose
// reaction emits nothing, so no outbox row is written and the relay has
// nothing to publish or mark (BenchmarkDelivery's time includes both,
// running beside it).
func BenchmarkDeliveryNoEmit(b *testing.B) {
	p := newProbe()
	p.reactWith(func() ([]handler.Emit, error) { return nil, nil })
	h := handlertest.Start(b, p, nil)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		e := handlertest.Event(b, events.PlaceOrder, placeData(fmt.Sprintf("o-%d", i)), nil)
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
			b.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.F.Handle(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkDuplicateDelivery is what a redelivery costs: decoded, checked,
// found in the processed ids, answered.
func BenchmarkDuplicateDelivery(b *testing.B) {
	p := newProbe()
	h := handlertest.Start(b, p, nil)
	e := handlertest.Event(b, events.PlaceOrder, placeData("o-dup"), nil)
	var body bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", &body)
		if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
			b.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.F.Handle(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
