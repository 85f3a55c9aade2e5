package handler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"orderflow.dev/shared/events"
	"orderflow.dev/shared/handlertest"
	"orderflow.dev/shared/saga"
)

// deliver posts e to the function as a KafkaSource would (binary mode)
// and fails unless it answers 200.
func deliver(h *handlertest.Harness, e event.Event) error {
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), req); err != nil {
		return err
	}
	rec := httptest.NewRecorder()
	h.F.Handle(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("%d %s", rec.Code, rec.Body)
	}
	return nil
}

// benchDeliveries delivers a new place-order command per iteration.
func benchDeliveries(b *testing.B, p *probe) {
	h := handlertest.Start(b, p, nil)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		if err := deliver(h, handlertest.Event(b, events.PlaceOrder, placeData(fmt.Sprintf("o-%d", i)), nil)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDelivery is the per-event cost of the edge on SQLite: decode the
// HTTP request, check the schema, record the processed id, run the
// reaction, build the outgoing event and write it to the outbox, commit.
// The relay publishes and marks the event beside it, and its time counts.
func BenchmarkDelivery(b *testing.B) { benchDeliveries(b, newProbe()) }

// BenchmarkDeliveryConcurrent is BenchmarkDelivery with deliveries
// arriving at once, as a KafkaSource sends them: one event in flight per
// partition, six partitions per topic and several topics per function. So
// 8 goroutines per CPU, each delivering one event after the other; ns/op is
// wall time per delivery.
func BenchmarkDeliveryConcurrent(b *testing.B) {
	h := handlertest.Start(b, newProbe(), nil)
	var orders atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := deliver(h, handlertest.Event(b, events.PlaceOrder, placeData(fmt.Sprintf("o-%d", orders.Add(1))), nil)); err != nil {
				b.Error(err)
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
	p.reactWith(func() ([]saga.Emit, error) { return nil, nil })
	benchDeliveries(b, p)
}

// BenchmarkDuplicateDelivery is what a redelivery of an event the process
// committed lately costs: decoded from HTTP, found among the ids it
// remembers, answered before its payload is decoded.
func BenchmarkDuplicateDelivery(b *testing.B) {
	h := handlertest.Start(b, newProbe(), nil)
	e := handlertest.Event(b, events.PlaceOrder, placeData("o-dup"), nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := deliver(h, e); err != nil {
			b.Fatal(err)
		}
	}
}
