package e2e

// What the end-to-end suite needs from a real Kafka, and what it proves
// about one: every run starts from empty topics and consumer groups (the
// broker outlives the tests), topics are created from the manifests with
// their partitions and replication, and nothing relies on auto-creation.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/manifests"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/shared/store"
	"orderflow.dev/shared/store/storetest"
)

// Settings of a run against real infrastructure (scripts/test-real.sh sets
// them; none is needed for the embedded run).
const (
	// EnvBrokers: bootstrap servers of a real Kafka for the whole suite.
	EnvBrokers = "ORDERFLOW_E2E_BROKERS"
	// EnvKafkaVersion: the version that Kafka reported at start (its log's
	// "Kafka version:" line), for the run's banner; the protocol does not
	// tell a client.
	EnvKafkaVersion = "ORDERFLOW_E2E_KAFKA_VERSION"
	// EnvCluster: bootstrap servers of the three-broker cluster of
	// `scripts/kafka.sh start-cluster`; enables the replication test,
	// which stops and restarts node 2 through that script.
	EnvCluster = "ORDERFLOW_E2E_CLUSTER"
)

// describeSetup says which broker and store this run uses.
func describeSetup() string {
	var b strings.Builder
	v := os.Getenv(EnvKafkaVersion)
	if v == "" {
		v = "(version not given: set " + EnvKafkaVersion + ")"
	}
	cluster := os.Getenv(EnvCluster)
	switch bs := brokers(); {
	case bs != nil:
		fmt.Fprintf(&b, "broker: Apache Kafka %s at %s (%s)", v, strings.Join(bs, ","), EnvBrokers)
	case cluster != "":
		fmt.Fprintf(&b, "broker: Apache Kafka %s, 3-node cluster at %s (%s), for the replication test; embedded kfake for the others", v, cluster, EnvCluster)
	default:
		fmt.Fprintf(&b, "broker: embedded kfake (github.com/twmb/franz-go/pkg/kfake, in-process)")
	}
	b.WriteString("; store: ")
	if storetest.OnPostgres() {
		b.WriteString(postgresVersion())
	} else {
		b.WriteString("SQLite (modernc.org/sqlite), one file per function")
	}
	if cluster != "" && brokers() != nil {
		fmt.Fprintf(&b, "; replication test: Apache Kafka %s, 3-node cluster at %s (%s)", v, cluster, EnvCluster)
	}
	return b.String()
}

func postgresVersion() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := storetest.PostgresURL()
	db, err := store.Open(ctx, storetest.PostgresEnv, u)
	if err != nil {
		return "PostgreSQL (" + err.Error() + ")"
	}
	defer db.Close()
	var v string
	if err := db.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "PostgreSQL (" + err.Error() + ")"
	}
	host := u
	if i := strings.LastIndex(u, "@"); i >= 0 {
		host = u[i+1:]
	}
	return "PostgreSQL " + v + " at " + host + ", a fresh schema per function and test (" + storetest.PostgresEnv + ")"
}

// resetKafka empties a shared external Kafka of what an earlier test left:
// the manifests' topics and the sources' consumer groups. The embedded
// broker needs none of this: each test starts its own.
func resetKafka(t *testing.T, opts plane.Options) {
	t.Helper()
	set, err := manifests.Load(opts.Manifests)
	if err != nil {
		t.Fatal(err)
	}
	var topics, groups []string
	for _, tp := range set.Topics {
		topics = append(topics, tp.TopicName)
	}
	for _, s := range set.Sources {
		groups = append(groups, s.ConsumerGroup)
	}
	admin := clusterAdmin(t, opts.Brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := broker.Reset(ctx, admin, topics, groups, 90*time.Second); err != nil {
		t.Fatalf("resetting kafka at %s: %v", strings.Join(opts.Brokers, ","), err)
	}
}

func clusterAdmin(t *testing.T, servers []string) sarama.ClusterAdmin {
	t.Helper()
	cfg, err := broker.SaramaConfig(broker.FromEnv(), broker.WithClientID("orderflow-e2e-admin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := broker.WaitReady(context.Background(), servers, cfg, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin(servers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	return admin
}

// checkTopics asserts that every KafkaTopic exists with its declared
// partitions and the given replication factor, and min.insync.replicas
// when minInsync > 0.
//
// On a cluster, the broker that answers may not have caught up with the
// topics the plane just created (a node restarted by the test before this
// one replays the metadata log): its answer names the topic unknown, or a
// partition without a leader. Those are waited out, up to a minute; what
// the metadata says once it has converged is what is asserted.
func checkTopics(t *testing.T, p *plane.Plane, replicas int16, minInsync int) {
	t.Helper()
	admin := clusterAdmin(t, p.Brokers)
	names := make([]string, 0, len(p.Set.Topics))
	declared := map[string]manifests.KafkaTopic{}
	for _, tp := range p.Set.Topics {
		names = append(names, tp.TopicName)
		declared[tp.TopicName] = tp
	}
	md, err := convergedTopics(admin, names, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range md {
		want := declared[m.Name]
		if int32(len(m.Partitions)) != want.Partitions {
			t.Errorf("topic %s: %d partitions, KafkaTopic %s declares %d", m.Name, len(m.Partitions), want.Name, want.Partitions)
		}
		for _, part := range m.Partitions {
			if int16(len(part.Replicas)) != replicas {
				t.Errorf("topic %s partition %d: replicas %v, want %d", m.Name, part.ID, part.Replicas, replicas)
			}
		}
		if minInsync > 0 {
			entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: m.Name,
				ConfigNames: []string{"min.insync.replicas"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Value != strconv.Itoa(minInsync) {
				t.Errorf("topic %s: min.insync.replicas %+v, want %d", m.Name, entries, minInsync)
			}
		}
	}
}

// convergedTopics describes topics until every one is known and every
// partition has a leader, or until wait has passed: then it names what was
// still missing.
func convergedTopics(admin sarama.ClusterAdmin, names []string, wait time.Duration) ([]*sarama.TopicMetadata, error) {
	deadline := time.Now().Add(wait)
	for {
		md, err := admin.DescribeTopics(names)
		pending := ""
		if err != nil {
			pending = err.Error()
		}
		for _, m := range md {
			if pending != "" {
				break
			}
			if !errors.Is(m.Err, sarama.ErrNoError) {
				pending = fmt.Sprintf("topic %s: %v", m.Name, m.Err)
				break
			}
			for _, part := range m.Partitions {
				if !errors.Is(part.Err, sarama.ErrNoError) || part.Leader < 0 {
					pending = fmt.Sprintf("topic %s partition %d: leader %d, %v", m.Name, part.ID, part.Leader, part.Err)
					break
				}
			}
		}
		if pending == "" {
			return md, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("topic metadata did not converge in %s: %s", wait, pending)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// On a real Kafka (auto.create.topics.enable=false, as scripts/kafka.sh
// runs it): the plane created every topic from its KafkaTopic, with the
// declared partitions and replicas, and a write to a topic nobody declared
// fails rather than creating it. Everything else in the suite passing on
// this broker shows no path depends on auto-creation.
func TestRealKafkaTopicsComeFromTheManifests(t *testing.T) {
	if brokers() == nil {
		t.Skip(EnvBrokers + " not set: runs against a real Kafka (make test-real)")
	}
	p := up(t, nil)
	replicas := int16(1)
	if len(p.Set.Topics) > 0 {
		replicas = p.Set.Topics[0].Replicas
	}
	for _, tp := range p.Set.Topics {
		if tp.Partitions < 1 || tp.Replicas < 1 {
			t.Fatalf("%s: KafkaTopic %s must declare partitions and replicas (got %d, %d)", tp.File, tp.Name, tp.Partitions, tp.Replicas)
		}
	}
	checkTopics(t, p, replicas, 0)
	// The ingress writes every record (saga events from K_SINK, dead
	// letters, placed orders) through the plane's producer.
	if pc := p.SaramaConfig(); pc.Producer.RequiredAcks != sarama.WaitForAll || !pc.Producer.Idempotent || pc.Metadata.AllowAutoTopicCreation {
		t.Errorf("plane producer: acks %d idempotent %v auto-create %v; want acks=all, idempotent, never auto-create",
			pc.Producer.RequiredAcks, pc.Producer.Idempotent, pc.Metadata.AllowAutoTopicCreation)
	}

	cfg, err := broker.SaramaConfig(broker.FromEnv(), broker.WithClientID("orderflow-e2e-autocreate"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Producer.Retry.Max = 2
	cfg.Metadata.Retry.Max = 2
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	producer, err := sarama.NewSyncProducer(p.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	undeclared := "orderflow.undeclared-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: undeclared, Value: sarama.StringEncoder("x")}); err == nil {
		t.Fatalf("produced to %s, which no KafkaTopic declares: the broker auto-creates topics", undeclared)
	}
	admin := clusterAdmin(t, p.Brokers)
	if all, err := admin.ListTopics(); err != nil {
		t.Fatal(err)
	} else if _, ok := all[undeclared]; ok {
		t.Fatalf("%s exists after a write to it: auto-creation is on", undeclared)
	}
}

// scriptPath is a project script, for tests that drive the infrastructure.
func scriptPath(name string) string { return filepath.Join(root, "scripts", name) }
