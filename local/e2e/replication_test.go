package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/demo"
)

// kafkaScript runs scripts/kafka.sh with args.
func kafkaScript(t *testing.T, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, scriptPath("kafka.sh"), args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// The three-broker cluster of `scripts/kafka.sh start-cluster` (every node
// broker and controller, three voters), topics created with replication
// factor 3 and min.insync.replicas 2 (the production shape; knative/base
// declares 1 for a one-broker dev cluster, so the plane overrides it). A
// few hundred orders go in at a steady rate; a third of the way in, node 2
// is stopped. Every write is acks=all, so each acknowledged record is on
// both surviving replicas; leaders move, consumer groups rebalance,
// deliveries repeat. Every order must still reach its one terminal state,
// with the invariants intact. Node 2 is started again afterwards and
// rejoins every partition's in-sync replicas.
func TestReplicationSurvivesABrokerStop(t *testing.T) {
	servers := os.Getenv(EnvCluster)
	if servers == "" {
		t.Skip(EnvCluster + " not set: needs the 3-broker cluster of scripts/kafka.sh start-cluster (make test-real runs it)")
	}
	const (
		orders   = 300
		rate     = 20.0 // orders/s: placement spans ~15s
		stopAt   = orders / 3
		stopNode = "2"
	)
	// A test before this one (the fault suite's one-of-three-brokers-down)
	// may have just restarted a node: start from a whole cluster, every
	// partition (__consumer_offsets, where groups are joined, included)
	// back to three in-sync replicas.
	awaitWholeCluster(t, strings.Split(servers, ","), 3, 2*time.Minute)
	p := up(t, func(o *plane.Options) {
		o.Brokers = strings.Split(servers, ",")
		o.TopicReplicas = 3
		o.TopicMinInsync = 2
	})
	checkTopics(t, p, 3, 2)
	// Whatever happens, node 2 comes back for whoever runs next.
	t.Cleanup(func() {
		if out, err := kafkaScript(t, "start-cluster"); err != nil {
			t.Errorf("restarting the cluster: %v\n%s", err, out)
		}
	})

	var (
		once               sync.Once
		stopped            = make(chan struct{})
		stopErr            error
		stopOut            string
		stopBegan, stopEnd time.Time
		placedAtStop       int
	)
	progress := func(pr demo.Progress) {
		if pr.Placed < stopAt {
			return
		}
		once.Do(func() {
			placedAtStop = pr.Placed
			// Progress is called under the run's lock: stop from elsewhere.
			go func() {
				defer close(stopped)
				stopBegan = time.Now()
				stopOut, stopErr = kafkaScript(t, "stop", stopNode)
				stopEnd = time.Now()
			}()
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tg := target(t, p)
	start := time.Now()
	res, err := demo.Run(ctx, tg, demo.Config{Orders: orders, Concurrency: 8, Rate: rate, Seed: 21,
		RunID: "repl", Timeout: 4 * time.Minute, Settle: time.Minute, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(2 * time.Minute):
		t.Fatal("stopping node " + stopNode + " did not finish")
	}
	if stopErr != nil {
		t.Fatalf("scripts/kafka.sh stop %s: %v\n%s", stopNode, stopErr, stopOut)
	}
	var out strings.Builder
	res.Print(&out)
	t.Log(out.String())
	t.Logf("node %s stopped at order %d of %d, %.1fs into the run (clean shutdown took %.1fs); the run took %s",
		stopNode, placedAtStop, orders, stopBegan.Sub(start).Seconds(), stopEnd.Sub(stopBegan).Seconds(), res.Elapsed.Round(time.Millisecond))
	// The stop really was in the middle: orders were still going in when
	// it began, and finishing after node 2 was gone.
	lastPlaced, lastFinished := span(res)
	if !lastPlaced.After(stopBegan) || !lastFinished.After(stopEnd) {
		t.Errorf("node %s stopped %s..%s, last order placed %s, last finished %s: the stop was not in the middle of the run",
			stopNode, stopBegan.Format(time.StampMilli), stopEnd.Format(time.StampMilli),
			lastPlaced.Format(time.StampMilli), lastFinished.Format(time.StampMilli))
	}
	expectSplit(t, res, orders)
	for name, s := range p.SourceStats() {
		t.Logf("source %s: %+v", name, s)
	}

	// With node 2 down, the cluster lists two brokers; partitions still
	// have a leader and two in-sync replicas.
	admin := clusterAdmin(t, p.Brokers)
	if bs, _, err := admin.DescribeCluster(); err != nil || len(bs) != 2 {
		t.Errorf("brokers with node %s down: %d (%v), want 2", stopNode, len(bs), err)
	}

	// Node 2 back: it rejoins the ISR of every partition.
	if out, err := kafkaScript(t, "start-cluster"); err != nil {
		t.Fatalf("restarting node %s: %v\n%s", stopNode, err, out)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		short := underReplicated(t, admin, p)
		if short == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("2 minutes after node %s restarted, partitions are still under-replicated: %s", stopNode, short)
		}
		time.Sleep(time.Second)
	}
	t.Logf("node %s restarted; every partition has 3 in-sync replicas again", stopNode)
}

// span is when the run's last order went in and when the last finished.
func span(res demo.Result) (lastPlaced, lastFinished time.Time) {
	for _, o := range res.Results {
		if o.PlacedAt.After(lastPlaced) {
			lastPlaced = o.PlacedAt
		}
		if f := o.PlacedAt.Add(o.Latency); f.After(lastFinished) {
			lastFinished = f
		}
	}
	return lastPlaced, lastFinished
}

// underReplicated names the first partition of the plane's topics with
// fewer than 3 in-sync replicas, or "".
func underReplicated(t *testing.T, admin sarama.ClusterAdmin, p *plane.Plane) string {
	t.Helper()
	var names []string
	for _, tp := range p.Set.Topics {
		names = append(names, tp.TopicName)
	}
	md, err := admin.DescribeTopics(names)
	if err != nil {
		return err.Error()
	}
	for _, m := range md {
		for _, part := range m.Partitions {
			if len(part.Isr) < 3 {
				return fmt.Sprintf("%s/%d isr %v", m.Name, part.ID, part.Isr)
			}
		}
	}
	return ""
}

// awaitWholeCluster waits until the cluster at servers lists nodes brokers
// and every partition of every topic, the internal ones included, has all
// its replicas in sync; it fails the test naming what is still short.
func awaitWholeCluster(t *testing.T, servers []string, nodes int, wait time.Duration) {
	t.Helper()
	admin := clusterAdmin(t, servers)
	deadline := time.Now().Add(wait)
	for {
		short := clusterShortfall(admin, nodes)
		if short == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster at %s is not whole after %s: %s", strings.Join(servers, ","), wait, short)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// clusterShortfall says what keeps the cluster from being whole, or "".
func clusterShortfall(admin sarama.ClusterAdmin, nodes int) string {
	bs, _, err := admin.DescribeCluster()
	if err != nil {
		return "describe cluster: " + err.Error()
	}
	if len(bs) != nodes {
		return fmt.Sprintf("%d brokers registered, want %d", len(bs), nodes)
	}
	topics, err := admin.ListTopics()
	if err != nil {
		return "list topics: " + err.Error()
	}
	names := make([]string, 0, len(topics))
	for name := range topics {
		names = append(names, name)
	}
	if len(names) == 0 {
		return ""
	}
	md, err := admin.DescribeTopics(names)
	if err != nil {
		return "describe topics: " + err.Error()
	}
	for _, m := range md {
		if m.Err != sarama.ErrNoError {
			return fmt.Sprintf("%s: %v", m.Name, m.Err)
		}
		for _, part := range m.Partitions {
			if part.Err != sarama.ErrNoError || len(part.Isr) < len(part.Replicas) {
				return fmt.Sprintf("%s/%d: leader %d, replicas %v, in sync %v (%v)", m.Name, part.ID, part.Leader, part.Replicas, part.Isr, part.Err)
			}
		}
	}
	return ""
}
