package broker

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every Kafka client in the tree (the KafkaSink ingress, and through it the
// dead-letter path and the functions' K_SINK publishing; the sources; the
// CLI's dlq replay; the demo) is built from SaramaConfig, so every producer
// is acks=all and idempotent and nothing asks for auto-creation. A new
// sarama.NewConfig() anywhere else would bypass that.
func TestEveryKafkaClientUsesSaramaConfig(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	self, _ := filepath.Abs("config.go")
	var offenders []string
	for _, dir := range []string{"local", "shared", "functions"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || path == self {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), "sarama.NewConfig()") {
				offenders = append(offenders, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(offenders) > 0 {
		t.Fatalf("sarama configs not from broker.SaramaConfig (acks=all, idempotent, no auto-creation): %v", offenders)
	}
	cfg := mustConfig(t, FromEnv())
	if cfg.Producer.RequiredAcks != -1 || !cfg.Producer.Idempotent || cfg.Metadata.AllowAutoTopicCreation {
		t.Fatalf("SaramaConfig: acks %d idempotent %v auto-create %v", cfg.Producer.RequiredAcks, cfg.Producer.Idempotent, cfg.Metadata.AllowAutoTopicCreation)
	}
}
