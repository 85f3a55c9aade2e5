package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"orderflow.dev/knlocal"
	"orderflow.dev/knlocal/manifests"
)

func startCluster(t *testing.T, opts ...Option) *Cluster {
	t.Helper()
	c, err := Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newAdmin(t *testing.T, servers []string, cfg *sarama.Config) sarama.ClusterAdmin {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(servers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	return admin
}

func mustConfig(t *testing.T, opts ...ConfigOption) *sarama.Config {
	t.Helper()
	cfg, err := SaramaConfig(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The topics of a project's manifests are created as declared, a second run finds
// them all, and a partition-count change is reported.
func TestEnsureTopicsFromManifests(t *testing.T) {
	c := startCluster(t)
	if !c.Embedded() || len(c.BootstrapServers()) != 1 {
		t.Fatalf("cluster = %+v", c)
	}
	cfg := mustConfig(t)
	if err := WaitReady(context.Background(), c.BootstrapServers(), cfg, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	set, err := manifests.Load("../testdata/greetings/knative")
	if err != nil {
		t.Fatal(err)
	}
	admin := newAdmin(t, c.BootstrapServers(), cfg)
	res, err := EnsureTopics(context.Background(), admin, set.Topics)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Created) != len(set.Topics) || len(res.Existing) != 0 {
		t.Fatalf("result = %+v", res)
	}
	got, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	for _, kt := range set.Topics {
		d, ok := got[kt.TopicName]
		if !ok {
			t.Errorf("topic %s not created", kt.TopicName)
			continue
		}
		if d.NumPartitions != kt.Partitions || d.ReplicationFactor != kt.Replicas {
			t.Errorf("topic %s: %d partitions x %d replicas, want %d x %d", kt.TopicName, d.NumPartitions, d.ReplicationFactor, kt.Partitions, kt.Replicas)
		}
	}

	res, err = EnsureTopics(context.Background(), admin, set.Topics)
	if err != nil || len(res.Existing) != len(set.Topics) || len(res.Created) != 0 {
		t.Fatalf("second run: %+v, %v", res, err)
	}

	changed := append([]manifests.KafkaTopic(nil), set.Topics...)
	changed[0].Partitions = 12
	_, err = EnsureTopics(context.Background(), admin, changed)
	var me *MismatchError
	if !errors.As(err, &me) || len(me.Mismatches) != 1 {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), `topics.yaml: KafkaTopic "greet.names": spec.partitions: declares 12 partitions but topic greet.names exists with 2`) {
		t.Errorf("message = %v", err)
	}
}

// A topic asking for more replicas than there are brokers fails, as on a
// real cluster, unless CapReplication says otherwise.
func TestEnsureTopicsReplication(t *testing.T) {
	c := startCluster(t, WithBrokers(2))
	cfg := mustConfig(t)
	admin := newAdmin(t, c.BootstrapServers(), cfg)
	n, err := BrokerCount(admin)
	if err != nil || n != 2 {
		t.Fatalf("brokers = %d, %v", n, err)
	}
	topic := manifests.KafkaTopic{Origin: manifests.Origin{File: "topics.yaml"}, Name: "t3", TopicName: "t3", Partitions: 2, Replicas: 3}
	_, err = EnsureTopics(context.Background(), admin, []manifests.KafkaTopic{topic})
	if err == nil || !strings.Contains(err.Error(), `topics.yaml: KafkaTopic "t3": create topic t3 (partitions 2, replicas 3)`) {
		t.Fatalf("err = %v", err)
	}
	res, err := EnsureTopics(context.Background(), admin, []manifests.KafkaTopic{topic}, CapReplication())
	if err != nil {
		t.Fatal(err)
	}
	if res.Capped["t3"] != 2 {
		t.Errorf("capped = %v", res.Capped)
	}
	topics, _ := admin.ListTopics()
	if d := topics["t3"]; d.ReplicationFactor != 2 || d.NumPartitions != 2 {
		t.Errorf("t3 = %+v", d)
	}
}

// OverrideReplication gives every created topic the production shape
// (replication factor, min.insync.replicas) whatever the manifest says;
// partitions and the rest of the config still come from the manifest.
func TestEnsureTopicsOverrideReplication(t *testing.T) {
	c := startCluster(t, WithBrokers(3))
	admin := newAdmin(t, c.BootstrapServers(), mustConfig(t))
	topic := manifests.KafkaTopic{Origin: manifests.Origin{File: "topics.yaml"}, Name: "r1", TopicName: "r1", Partitions: 4, Replicas: 1,
		Config: map[string]string{"retention.ms": "-1"}}
	if _, err := EnsureTopics(context.Background(), admin, []manifests.KafkaTopic{topic}, OverrideReplication(3, 2)); err != nil {
		t.Fatal(err)
	}
	topics, _ := admin.ListTopics()
	if d := topics["r1"]; d.ReplicationFactor != 3 || d.NumPartitions != 4 {
		t.Errorf("r1 = %+v", d)
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.Name] = e.Value
	}
	if got["min.insync.replicas"] != "2" || got["retention.ms"] != "-1" {
		t.Errorf("r1 config: min.insync.replicas %q retention.ms %q", got["min.insync.replicas"], got["retention.ms"])
	}
	// More replicas than brokers: one clear error, before any topic is made.
	big := manifests.KafkaTopic{Name: "r2", TopicName: "r2", Partitions: 1, Replicas: 1}
	_, err = EnsureTopics(context.Background(), admin, []manifests.KafkaTopic{big}, OverrideReplication(4, 2))
	if !errors.Is(err, ErrTooFewBrokers) || !strings.Contains(err.Error(), "a replication factor of 4 needs 4 brokers, the cluster has 3") {
		t.Errorf("err = %v", err)
	}
	if topics, _ := admin.ListTopics(); topics["r2"].NumPartitions != 0 {
		t.Errorf("r2 was created: %+v", topics["r2"])
	}
}

// Nothing is auto-created: producing to an undeclared topic fails.
func TestNoAutoCreation(t *testing.T) {
	c := startCluster(t)
	cfg := mustConfig(t)
	cfg.Producer.Retry.Max = 1
	cfg.Metadata.Retry.Max = 1
	cfg.Metadata.Retry.Backoff = 10 * time.Millisecond
	p, err := sarama.NewSyncProducer(c.BootstrapServers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "undeclared", Value: sarama.StringEncoder("x")}); err == nil {
		t.Fatal("produced to an undeclared topic")
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	return addr
}

// Every server refusing the connection is a wrong address or a broker that
// is down: WaitReady gives up after RefusedGrace, not the whole timeout,
// naming the servers.
func TestWaitReadyRefusedFailsFast(t *testing.T) {
	defer func(g time.Duration) { RefusedGrace = g }(RefusedGrace)
	RefusedGrace = 500 * time.Millisecond
	a, b := closedPort(t), closedPort(t)
	start := time.Now()
	err := WaitReady(context.Background(), []string{a, b}, nil, 30*time.Second)
	took := time.Since(start)
	var ue *UnreachableError
	if !errors.As(err, &ue) || !ue.Refused {
		t.Fatalf("err = %v, want a refused *UnreachableError", err)
	}
	if took < RefusedGrace || took > 5*time.Second {
		t.Errorf("gave up after %s, want about %s", took, RefusedGrace)
	}
	ue.Setting = "--brokers"
	if msg := err.Error(); !strings.Contains(msg, "kafka bootstrap servers "+a+","+b+" (--brokers): connection refused") {
		t.Errorf("message %q", msg)
	}
	// A timeout shorter than the grace wins.
	start = time.Now()
	if err := WaitReady(context.Background(), []string{a}, nil, 200*time.Millisecond); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("err %v after %s", err, time.Since(start))
	}
}

// A broker that binds its port while WaitReady waits (started in parallel)
// is found: the grace is patience, not a single try.
func TestWaitReadyWaitsForABrokerThatBindsLate(t *testing.T) {
	defer func(g time.Duration) { RefusedGrace = g }(RefusedGrace)
	RefusedGrace = 10 * time.Second
	addr := closedPort(t)
	_, port, _ := net.SplitHostPort(addr)
	go func() {
		time.Sleep(time.Second)
		p, _ := net.LookupPort("tcp", port)
		c, err := Start(WithPort(p))
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(c.Close)
	}()
	if err := WaitReady(context.Background(), []string{addr}, nil, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

// A server that accepts connections but never answers (a broker still
// starting, a proxy in front of nothing) is waited for until the timeout.
func TestWaitReadySilentServerWaitsForTimeout(t *testing.T) {
	defer func(g time.Duration) { RefusedGrace = g }(RefusedGrace)
	RefusedGrace = 100 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	addr := ln.Addr().String()
	start := time.Now()
	err = WaitReady(context.Background(), []string{addr}, nil, 1500*time.Millisecond)
	took := time.Since(start)
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.Refused || ue.Permanent {
		t.Fatalf("err = %v, want a timed-out *UnreachableError", err)
	}
	if took < 1500*time.Millisecond {
		t.Errorf("gave up after %s, before the timeout", took)
	}
	if !strings.Contains(err.Error(), "kafka at "+addr+" not reachable within") {
		t.Errorf("message %q", err)
	}
}

// A name that does not resolve will not resolve in a second either.
func TestWaitReadyUnknownHostFailsAtOnce(t *testing.T) {
	start := time.Now()
	err := WaitReady(context.Background(), []string{"no-such-host.invalid:9092"}, nil, 30*time.Second)
	var ue *UnreachableError
	if errors.As(err, &ue) && !ue.Permanent && !ue.Refused {
		t.Skipf("this machine's resolver does not answer NXDOMAIN for .invalid: %v", err)
	}
	if !errors.As(err, &ue) || !ue.Permanent {
		t.Fatalf("err = %v, want a permanent *UnreachableError", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	if !strings.Contains(err.Error(), "no-such-host.invalid") {
		t.Errorf("message %q", err)
	}
}

func TestStartFixedPortAndExternal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c := startCluster(t, WithPort(port))
	want := net.JoinHostPort("127.0.0.1", itoa(port))
	if got := c.BootstrapServers(); len(got) != 1 || got[0] != want {
		t.Fatalf("servers = %v, want %s", got, want)
	}
	ext, err := Start(WithBootstrapServers(want))
	if err != nil || ext.Embedded() || ext.BootstrapServers()[0] != want {
		t.Fatalf("external = %+v, %v", ext, err)
	}
	ext.Close() // no-op
	if err := WaitReady(context.Background(), ext.BootstrapServers(), nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(WithBootstrapServers("")); err == nil {
		t.Error("empty bootstrap address accepted")
	}
}

func TestSaramaConfig(t *testing.T) {
	cfg := mustConfig(t, WithClientID("x"))
	if cfg.Producer.RequiredAcks != sarama.WaitForAll || !cfg.Producer.Idempotent || cfg.Net.MaxOpenRequests != 1 ||
		!cfg.Producer.Return.Successes || cfg.Version != sarama.V3_6_0_0 || cfg.ClientID != "x" ||
		cfg.Metadata.AllowAutoTopicCreation || cfg.Net.SASL.Enable || cfg.Net.TLS.Enable {
		t.Errorf("config = %+v", cfg)
	}
}

// envOf serves m, keyed by the names under the prefix (EnvTLS for
// ORDERFLOW_KAFKA_TLS), as the environment of orderflow's default naming.
func envOf(m map[string]string) ConfigOption {
	return WithEnvLookup(func(k string) (string, bool) { v, ok := m[strings.TrimPrefix(k, "ORDERFLOW_")]; return v, ok })
}

// Another topology's naming reads its own variables, names them in its
// errors, and does not read orderflow's.
func TestSaramaConfigEnvNaming(t *testing.T) {
	env := map[string]string{"SHOP_KAFKA_TLS": "maybe", "ORDERFLOW_KAFKA_SASL_MECHANISM": "PLAIN"}
	lookup := WithEnvLookup(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	_, err := SaramaConfig(lookup, WithNaming(knlocal.Naming{EnvPrefix: "SHOP_"}))
	if err == nil || !strings.Contains(err.Error(), `SHOP_KAFKA_TLS="maybe" is not a boolean`) {
		t.Fatalf("err = %v, want SHOP_KAFKA_TLS named", err)
	}
	env["SHOP_KAFKA_TLS"] = "true"
	cfg := mustConfig(t, lookup, WithNaming(knlocal.Naming{EnvPrefix: "SHOP_"}))
	if !cfg.Net.TLS.Enable || cfg.Net.SASL.Enable {
		t.Errorf("SHOP_ naming: TLS %v (want on), SASL %v (want off: ORDERFLOW_ is not its prefix)", cfg.Net.TLS.Enable, cfg.Net.SASL.Enable)
	}
	if _, err := SaramaConfig(lookup); err == nil || !strings.Contains(err.Error(), "SASL PLAIN needs ORDERFLOW_KAFKA_SASL_USER") {
		t.Errorf("default naming: err = %v, want ORDERFLOW_KAFKA_SASL_MECHANISM read and ORDERFLOW_KAFKA_SASL_USER missed", err)
	}
}

func TestSaramaConfigEnv(t *testing.T) {
	cfg := mustConfig(t, envOf(map[string]string{EnvSASLMechanism: "PLAIN", EnvSASLUser: "u", EnvSASLPassword: "p"}))
	if !cfg.Net.SASL.Enable || cfg.Net.SASL.Mechanism != sarama.SASLTypePlaintext || cfg.Net.SASL.User != "u" || cfg.Net.SASL.Password != "p" {
		t.Errorf("PLAIN: %+v", cfg.Net.SASL)
	}
	for _, m := range []string{"SCRAM-SHA-256", "scram-sha-512"} {
		cfg := mustConfig(t, envOf(map[string]string{EnvSASLMechanism: m, EnvSASLUser: "u", EnvSASLPassword: "p"}))
		if cfg.Net.SASL.SCRAMClientGeneratorFunc == nil || !strings.EqualFold(string(cfg.Net.SASL.Mechanism), m) {
			t.Errorf("%s: %+v", m, cfg.Net.SASL)
		}
	}
	cfg = mustConfig(t, envOf(map[string]string{EnvTLS: "true", EnvTLSInsecure: "true"}))
	if !cfg.Net.TLS.Enable || !cfg.Net.TLS.Config.InsecureSkipVerify {
		t.Errorf("TLS: %+v", cfg.Net.TLS)
	}

	bad := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{EnvSASLMechanism: "GSSAPI", EnvSASLUser: "u"}, "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{map[string]string{EnvSASLMechanism: "PLAIN"}, "needs ORDERFLOW_KAFKA_SASL_USER"},
		{map[string]string{EnvSASLMechanism: "GSSAPI"}, `ORDERFLOW_KAFKA_SASL_MECHANISM="GSSAPI": want PLAIN`},
		{map[string]string{EnvSASLMechanism: "SCRAM-SHA-256", EnvSASLUser: "u"}, "SASL SCRAM-SHA-256 needs ORDERFLOW_KAFKA_SASL_PASSWORD"},
		{map[string]string{EnvSASLUser: "u", EnvSASLPassword: "p"}, "ORDERFLOW_KAFKA_SASL_USER or ORDERFLOW_KAFKA_SASL_PASSWORD is set but ORDERFLOW_KAFKA_SASL_MECHANISM is not"},
		{map[string]string{EnvSASLPassword: "p"}, "is set but ORDERFLOW_KAFKA_SASL_MECHANISM is not"},
		{map[string]string{EnvTLS: "yes please"}, `ORDERFLOW_KAFKA_TLS="yes please" is not a boolean`},
		{map[string]string{EnvTLSCAFile: "/x.pem"}, "is set but ORDERFLOW_KAFKA_TLS is not true"},
		{map[string]string{EnvTLS: "1", EnvTLSCAFile: "/nonexistent/ca.pem"}, EnvTLSCAFile},
	}
	for _, b := range bad {
		if _, err := SaramaConfig(envOf(b.env)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("env %v: err = %v, want %q", b.env, err, b.want)
		}
	}
}

// SASL/PLAIN and SCRAM against a broker that demands them: the right
// password gets in, a wrong one does not.
func TestSASLAgainstBroker(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c := startCluster(t, WithKfakeOptions(kfake.EnableSASL(), kfake.Superuser(mech, "admin", "s3cret")))
			cfg := mustConfig(t, envOf(map[string]string{EnvSASLMechanism: mech, EnvSASLUser: "admin", EnvSASLPassword: "s3cret"}))
			if err := WaitReady(context.Background(), c.BootstrapServers(), cfg, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			admin := newAdmin(t, c.BootstrapServers(), cfg)
			if _, err := EnsureTopics(context.Background(), admin, []manifests.KafkaTopic{{Name: "a", TopicName: "a", Partitions: 1, Replicas: 1}}); err != nil {
				t.Fatal(err)
			}
			// The embedded broker drops the connection on a bad password
			// (a real one answers SASL_AUTHENTICATION_FAILED, which
			// WaitReady treats as final); either way it must not pass.
			wrong := mustConfig(t, WithSASL(mech, "admin", "wrong"))
			if err := WaitReady(context.Background(), c.BootstrapServers(), wrong, time.Second); err == nil {
				t.Fatal("wrong password accepted")
			}
		})
	}
}

// TLS with a CA file from the environment against a TLS-only broker.
func TestTLSAgainstBroker(t *testing.T) {
	serverCfg, caPEM := selfSigned(t)
	c := startCluster(t, WithKfakeOptions(kfake.TLS(serverCfg)))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustConfig(t, envOf(map[string]string{EnvTLS: "true", EnvTLSCAFile: ca}))
	if err := WaitReady(context.Background(), c.BootstrapServers(), cfg, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	plain := mustConfig(t)
	if err := WaitReady(context.Background(), c.BootstrapServers(), plain, 500*time.Millisecond); err == nil {
		t.Fatal("plaintext client got through to a TLS broker")
	}
}

func selfSigned(t *testing.T) (*tls.Config, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, certPEM
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// Reset empties a shared cluster of what a test run left: topics (so they
// are created afresh, empty) and consumer groups (so the next run starts at
// initialOffset). Missing ones are fine.
func TestReset(t *testing.T) {
	c := startCluster(t)
	cfg := mustConfig(t)
	admin := newAdmin(t, c.BootstrapServers(), cfg)
	topic := manifests.KafkaTopic{Name: "a", TopicName: "a", Partitions: 1, Replicas: 1}
	if _, err := EnsureTopics(context.Background(), admin, []manifests.KafkaTopic{topic}); err != nil {
		t.Fatal(err)
	}
	client, err := sarama.NewClient(c.BootstrapServers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	coord, err := client.Coordinator("g")
	if err != nil {
		t.Fatal(err)
	}
	req := &sarama.OffsetCommitRequest{Version: 2, ConsumerGroup: "g", ConsumerGroupGeneration: -1, RetentionTime: -1}
	req.AddBlock("a", 0, 1, 0, "")
	if resp, err := coord.CommitOffset(req); err != nil || resp.Errors["a"][0] != sarama.ErrNoError {
		t.Fatalf("commit: %v %+v", err, resp)
	}
	if groups, _ := admin.ListConsumerGroups(); len(groups) != 1 {
		t.Fatalf("groups before reset: %v", groups)
	}
	if err := Reset(context.Background(), admin, []string{"a", "never-made"}, []string{"g", "no-group"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if topics, _ := admin.ListTopics(); len(topics) != 0 {
		t.Errorf("topics after reset: %v", topics)
	}
	if groups, _ := admin.ListConsumerGroups(); len(groups) != 0 {
		t.Errorf("groups after reset: %v", groups)
	}
	// And the topic can be made again at once.
	if _, err := EnsureTopics(context.Background(), admin, []manifests.KafkaTopic{topic}); err != nil {
		t.Fatal(err)
	}
}
