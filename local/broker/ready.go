package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// WaitReady blocks until Kafka at servers answers a metadata request with
// at least one broker, or fails after timeout with a message naming the
// servers and the last error. Each try uses a short dial timeout so an
// unreachable address costs little; authentication and TLS failures end the
// wait at once, since retrying cannot fix them.
func WaitReady(ctx context.Context, servers []string, cfg *sarama.Config, timeout time.Duration) error {
	if len(servers) == 0 {
		return errors.New("broker: no bootstrap servers given")
	}
	if cfg == nil {
		var err error
		if cfg, err = SaramaConfig(); err != nil {
			return err
		}
	}
	probe := *cfg // shallow copy: only the timeouts below differ
	dial := min(timeout, 2*time.Second)
	probe.Net.DialTimeout = dial
	probe.Net.ReadTimeout = dial
	probe.Net.WriteTimeout = dial
	probe.Metadata.Retry.Max = 0
	// Full metadata: NewClient only contacts the cluster when it must
	// fetch metadata for all topics; otherwise it would succeed offline.
	probe.Metadata.Full = true

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		client, err := sarama.NewClient(servers, &probe)
		if err == nil {
			n := len(client.Brokers())
			client.Close()
			if n > 0 {
				return nil
			}
			err = errors.New("metadata lists no brokers")
		}
		last = err
		if permanent(err) {
			return fmt.Errorf("kafka at %s refused the client: %w", strings.Join(servers, ","), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka at %s not reachable within %s: %w", strings.Join(servers, ","), timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// permanent reports errors that another try will not fix.
func permanent(err error) bool {
	return errors.Is(err, sarama.ErrSASLAuthenticationFailed) ||
		errors.Is(err, sarama.ErrUnsupportedSASLMechanism) ||
		errors.Is(err, sarama.ErrIllegalSASLState) ||
		errors.Is(err, sarama.ErrClusterAuthorizationFailed)
}

// BrokerCount asks the cluster how many brokers it has (what a replication
// factor must not exceed).
func BrokerCount(admin sarama.ClusterAdmin) (int, error) {
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return 0, fmt.Errorf("broker: describe cluster: %w", err)
	}
	return len(brokers), nil
}
