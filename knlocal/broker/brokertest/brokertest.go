// Package brokertest starts a real, embedded Kafka (kfake) for tests, with
// the client configuration every part of the plane uses and the topics a
// test declares: the one setup the plane's package tests share.
package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/manifests"
)

// Kafka is a running embedded broker.
type Kafka struct {
	Servers []string
	Config  *sarama.Config // broker.SaramaConfig(): acks=all, idempotent
	Admin   sarama.ClusterAdmin
}

// Start runs a broker for the test (stopped at its end), waits until it
// answers and creates topics.
func Start(tb testing.TB, topics ...manifests.KafkaTopic) *Kafka {
	tb.Helper()
	c, err := broker.Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	cfg, err := broker.SaramaConfig()
	if err != nil {
		tb.Fatal(err)
	}
	if err := broker.WaitReady(context.Background(), c.BootstrapServers(), cfg, 10*time.Second); err != nil {
		tb.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin(c.BootstrapServers(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Close() })
	if len(topics) > 0 {
		if _, err := broker.EnsureTopics(context.Background(), admin, topics); err != nil {
			tb.Fatal(err)
		}
	}
	return &Kafka{Servers: c.BootstrapServers(), Config: cfg, Admin: admin}
}

// Producer is a synchronous producer of its own (closed at the test's end)
// built from Config as it is when called.
func (k *Kafka) Producer(tb testing.TB) sarama.SyncProducer {
	tb.Helper()
	p, err := sarama.NewSyncProducer(k.Servers, k.Config)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}
