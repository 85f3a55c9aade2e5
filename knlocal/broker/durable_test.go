package broker

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// envCrashChild makes this test binary the process that is killed: it
// starts a durable broker in the directory given, writes records one at
// a time, commits a group's offset, and prints each acknowledgement.
// envCrashSync=1 has it sync every write.
const (
	envCrashChild = "ORDERFLOW_BROKER_CRASH_CHILD"
	envCrashSync  = "ORDERFLOW_BROKER_CRASH_SYNC"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashChild); dir != "" {
		if err := crashChild(dir); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func crashChild(dir string) error {
	opts := []Option{WithDataDir(dir)}
	if os.Getenv(envCrashSync) == "1" {
		opts = append(opts, WithSyncWrites())
	}
	c, err := Start(opts...)
	if err != nil {
		return err
	}
	cfg, err := SaramaConfig(WithClientID("crash-child"))
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(c.BootstrapServers(), cfg)
	if err != nil {
		return err
	}
	if err := admin.CreateTopic("acked", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		return err
	}
	producer, err := sarama.NewSyncProducer(c.BootstrapServers(), cfg)
	if err != nil {
		return err
	}
	gcfg := *cfg
	gcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	gcfg.Consumer.Offsets.AutoCommit.Enable = false
	group, err := sarama.NewConsumerGroup(c.BootstrapServers(), "readers", &gcfg)
	if err != nil {
		return err
	}
	go func() {
		for {
			if err := group.Consume(context.Background(), []string{"acked"}, committer{}); err != nil {
				fmt.Println("error:", err)
				return
			}
		}
	}()
	for i := 0; ; i++ {
		_, off, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "acked", Value: sarama.StringEncoder(strconv.Itoa(i))})
		if err != nil {
			return err
		}
		fmt.Printf("acked %d %d\n", i, off)
	}
}

// committer commits its group's offset after every tenth record and says
// so once the commit is answered.
type committer struct{}

func (committer) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (committer) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (committer) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		sess.MarkMessage(m, "")
		if m.Offset%10 == 9 {
			sess.Commit()
			fmt.Printf("committed %d\n", m.Offset+1)
		}
	}
	return nil
}

// An acknowledged record survives a kill -9 of the process that holds the
// embedded broker: WithDataDir has it written to the log file before the
// broker answers (the kernel keeps what was written when the process
// dies), and a broker started on the directory afterwards serves it, with
// the consumer group's committed offset. WithSyncWrites adds an fsync of
// each write, for a crash of the machine too, which a test cannot make.
func TestDurableBrokerKeepsWhatItAcknowledgedThroughAKill(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) { killAndResume(t, sync) })
	}
}

func killAndResume(t *testing.T, sync bool) {
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), envCrashChild+"="+dir)
	if sync {
		child.Env = append(child.Env, envCrashSync+"=1")
	}
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	acked, committed := -1, int64(-1)
	read := func() bool {
		var i int
		var off int64
		switch text := lines.Text(); {
		case strings.HasPrefix(text, "acked "):
			fmt.Sscanf(text, "acked %d %d", &i, &off)
			acked = i
		case strings.HasPrefix(text, "committed "):
			fmt.Sscanf(text, "committed %d", &off)
			committed = max(committed, off)
		default:
			return false
		}
		return true
	}
	for lines.Scan() {
		if !read() {
			child.Process.Kill()
			t.Fatalf("child: %s", lines.Text())
		}
		if acked >= 300 && committed >= 100 {
			break
		}
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	// What the child printed after the last line read was acknowledged too.
	for lines.Scan() && read() {
	}
	if acked < 300 || committed < 100 {
		t.Fatalf("the child acknowledged %d records and committed offset %d before it ended", acked+1, committed)
	}

	c := startCluster(t, WithDataDir(dir))
	cfg := mustConfig(t, WithClientID("after"))
	client, err := sarama.NewClient(c.BootstrapServers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	end, err := client.GetOffset("acked", 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	if end < int64(acked)+1 {
		t.Fatalf("after the kill the log ends at %d; %d records were acknowledged", end, acked+1)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition("acked", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for want := 0; want <= acked; want++ {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != strconv.Itoa(want) || m.Offset != int64(want) {
				t.Fatalf("offset %d holds %q, want %d", m.Offset, m.Value, want)
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatalf("record %d of %d acknowledged ones not served", want, acked+1)
		}
	}
	admin := newAdmin(t, c.BootstrapServers(), cfg)
	offsets, err := admin.ListConsumerGroupOffsets("readers", map[string][]int32{"acked": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if b := offsets.GetBlock("acked", 0); b == nil || b.Offset < committed {
		t.Fatalf("group readers' committed offset after the kill: %+v, want at least %d, the last one answered", b, committed)
	}
}

// A log found corrupt when the broker loads it is cut at the corrupt entry,
// as Kafka's recovery does; the records after it are gone, and the warning
// saying so reaches WithWarnings instead of kfake's silent default logger.
func TestACorruptLogIsReportedWhenLoaded(t *testing.T) {
	dir := t.TempDir()
	c, err := Start(WithDataDir(dir), WithSyncWrites())
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustConfig(t, WithClientID("before"))
	admin := newAdmin(t, c.BootstrapServers(), cfg)
	if err := admin.CreateTopic("t", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(c.BootstrapServers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "t", Value: sarama.StringEncoder(fmt.Sprintf("record %d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	producer.Close()
	admin.Close()
	c.Close()

	segments, _ := filepath.Glob(filepath.Join(dir, "partitions", "t-0", "*.dat"))
	if len(segments) == 0 {
		t.Fatalf("no segment under %s", dir)
	}
	b, err := os.ReadFile(segments[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 2; i < len(b)/2+16 && i < len(b); i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(segments[0], b, 0o644); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var warnings []string
	startCluster(t, WithDataDir(dir), WithWarnings(func(m string) { mu.Lock(); warnings = append(warnings, m); mu.Unlock() }))
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "t-0") && strings.Contains(w, "corrupt") }) {
		t.Fatalf("warnings %q: none says partition t-0 was cut at a corrupt entry", warnings)
	}
	t.Logf("warned: %q", warnings)
}
