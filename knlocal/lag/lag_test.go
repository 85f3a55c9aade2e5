package lag_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/broker/brokertest"
	"orderflow.dev/knlocal/lag"
	"orderflow.dev/knlocal/manifests"
)

// A group that committed part of one partition and nothing of the other:
// lag is what is left after the commit, and everything for the partition
// it never committed on; a second group that read everything has none.
func TestReadAgainstARealBroker(t *testing.T) {
	k := brokertest.Start(t, manifests.KafkaTopic{Name: "t", TopicName: "lag.t", Partitions: 2, Replicas: 1})
	k.Config.Producer.Partitioner = sarama.NewManualPartitioner
	prod := k.Producer(t)
	for i := 0; i < 7; i++ {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "lag.t", Partition: 0, Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "lag.t", Partition: 1, Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := sarama.NewClient(k.Servers, k.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	commit(t, k.Servers, k.Config, "behind", map[int32]int64{0: 4})
	commit(t, k.Servers, k.Config, "caught-up", map[int32]int64{0: 7, 1: 3})

	got, err := lag.Read(context.Background(), client, []lag.Group{{Name: "behind", Topics: []string{"lag.t"}}, {Name: "caught-up", Topics: []string{"lag.t"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []lag.Partition{
		{Group: "behind", Topic: "lag.t", Partition: 0, Committed: 4, Start: 0, End: 7, Lag: 3},
		{Group: "behind", Topic: "lag.t", Partition: 1, Committed: -1, Start: 0, End: 3, Lag: 3},
		{Group: "caught-up", Topic: "lag.t", Partition: 0, Committed: 7, Start: 0, End: 7, Lag: 0},
		{Group: "caught-up", Topic: "lag.t", Partition: 1, Committed: 3, Start: 0, End: 3, Lag: 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d partitions %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if tot := lag.Total(got); tot["behind"] != 6 || tot["caught-up"] != 0 {
		t.Errorf("totals %v, want behind 6, caught-up 0", tot)
	}

	// A group Kafka has never seen has read nothing: all of it is lag.
	never, err := lag.Read(context.Background(), client, []lag.Group{{Name: "never", Topics: []string{"lag.t"}}})
	if err != nil {
		t.Fatal(err)
	}
	if tot := lag.Total(never); tot["never"] != 10 || never[0].Committed != -1 {
		t.Errorf("a group with no commits: %+v, want lag 10 and nothing committed", never)
	}

	if _, err := lag.Read(context.Background(), client, []lag.Group{{Name: "g", Topics: []string{"no.such.topic"}}}); err == nil {
		t.Error("a topic that does not exist gave no error")
	}
}

// commit joins group as a real member (kfake, as Kafka, takes commits
// from members of a group it knows) and commits offsets on lag.t.
func commit(t *testing.T, servers []string, cfg *sarama.Config, group string, offsets map[int32]int64) {
	t.Helper()
	c := *cfg
	c.Consumer.Offsets.AutoCommit.Enable = false
	cg, err := sarama.NewConsumerGroup(servers, group, &c)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	h := committer{offsets: offsets}
	if err := cg.Consume(context.Background(), []string{"lag.t"}, &h); err != nil {
		t.Fatal(err)
	}
}

type committer struct{ offsets map[int32]int64 }

func (h *committer) Setup(s sarama.ConsumerGroupSession) error {
	for p, o := range h.offsets {
		s.MarkOffset("lag.t", p, o, "")
	}
	s.Commit()
	return nil
}
func (h *committer) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *committer) ConsumeClaim(s sarama.ConsumerGroupSession, _ sarama.ConsumerGroupClaim) error {
	return nil // returning ends the session once Setup committed
}
