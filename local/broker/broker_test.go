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

	"orderflow.dev/local/manifests"
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

// The topics of knative/base are created as declared, a second run finds
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
	set, err := manifests.Load("../../knative/base")
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
	if !strings.Contains(err.Error(), `topics.yaml: KafkaTopic "orderflow.orders": spec.partitions: declares 12 partitions but topic orderflow.orders exists with 6`) {
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

func TestWaitReadyUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	err = WaitReady(context.Background(), []string{addr}, nil, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "kafka at "+addr+" not reachable within 300ms") {
		t.Fatalf("err = %v", err)
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

func envOf(m map[string]string) ConfigOption {
	return WithEnvLookup(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
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
		{map[string]string{EnvSASLMechanism: "PLAIN"}, "needs " + EnvSASLUser},
		{map[string]string{EnvTLS: "yes please"}, EnvTLS + `="yes please" is not a boolean`},
		{map[string]string{EnvTLSCAFile: "/x.pem"}, "is set but " + EnvTLS + " is not true"},
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
