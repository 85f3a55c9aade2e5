package broker

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// A restart in place: one producer keeps producing through it (it
// retries while the broker is down and goes on once it is back, on the
// same address), and afterwards the log holds every acknowledged record
// in order, none skipped.
func TestRestartKeepsTheLogAndClientsReconnect(t *testing.T) {
	c := startCluster(t, WithDataDir(t.TempDir()))
	before := c.BootstrapServers()
	cfg := mustConfig(t, WithClientID("restart"))
	admin := newAdmin(t, before, cfg)
	if err := admin.CreateTopic("kept", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(before, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()

	restarted := make(chan error, 1)
	acked, failed, started := 0, 0, false
	for acked < 200 {
		if acked == 100 && !started {
			started = true
			go func() { restarted <- c.Restart(context.Background(), 300*time.Millisecond) }()
		}
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "kept", Value: sarama.StringEncoder(strconv.Itoa(acked))}); err != nil {
			failed++
			if failed > 600 {
				t.Fatalf("after %d acknowledged records the producer failed %d times in a row: %v", acked, failed, err)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		acked++
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records acknowledged, %d sends failed across the restart", acked, failed)
	if got := c.BootstrapServers(); strings.Join(got, ",") != strings.Join(before, ",") {
		t.Fatalf("after the restart the broker is at %v, was at %v", got, before)
	}

	client, err := sarama.NewClient(before, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition("kept", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	next := 0
	for next < acked {
		select {
		case m := <-pc.Messages():
			// A send whose answer was lost in the restart may have been
			// written: the value repeats, never skips or reorders.
			v, _ := strconv.Atoi(string(m.Value))
			if v != next && v != next-1 {
				t.Fatalf("offset %d holds %q, want %d (or %d again)", m.Offset, m.Value, next, next-1)
			}
			next = v + 1
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatalf("after the restart record %d of %d was not served", next, acked)
		}
	}
}

// A restart without a data directory would come back empty: refused.
func TestRestartNeedsADataDirectory(t *testing.T) {
	c := startCluster(t)
	if err := c.Restart(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "no data directory") {
		t.Fatalf("restart without a data directory: %v", err)
	}
	ext, err := Start(WithBootstrapServers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Restart(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "external") {
		t.Fatalf("restart of an external Kafka: %v", err)
	}
}
