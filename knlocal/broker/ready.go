package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// RefusedGrace is how long WaitReady keeps trying while every bootstrap
// server refuses the TCP connection (nothing listens on the port). A
// broker that is being started binds its port within a few seconds, so a
// little patience covers `scripts/kafka.sh start & orderflow up`; after
// that, a refused connection is a wrong address and waiting the full
// timeout would only hide it.
var RefusedGrace = 5 * time.Second

// UnreachableError is WaitReady's failure: which servers, why, and how
// long it tried.
type UnreachableError struct {
	Servers []string
	// Setting names where the servers came from (a flag or variable), for
	// the message; optional.
	Setting string
	// Refused: every server refused the connection (nothing listens).
	Refused bool
	// Permanent: retrying cannot help (unknown host, authentication or
	// TLS refused), so it did not.
	Permanent bool
	Waited    time.Duration
	Err       error
}

func (e *UnreachableError) Error() string {
	servers := strings.Join(e.Servers, ",")
	if e.Setting != "" {
		servers += " (" + e.Setting + ")"
	}
	switch {
	case e.Refused:
		return fmt.Sprintf("kafka bootstrap servers %s: connection refused (nothing listens there; gave up after %s): %v",
			servers, e.Waited.Round(100*time.Millisecond), e.Err)
	case e.Permanent:
		return fmt.Sprintf("kafka bootstrap servers %s: %v", servers, e.Err)
	default:
		return fmt.Sprintf("kafka at %s not reachable within %s: %v", servers, e.Waited.Round(100*time.Millisecond), e.Err)
	}
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// WaitReady blocks until Kafka at servers answers a metadata request with
// at least one broker. It fails with an *UnreachableError naming the
// servers:
//   - at once when a server name does not resolve, or authentication or
//     TLS is refused (retrying cannot fix those);
//   - after RefusedGrace (or timeout, if shorter) while every server
//     refuses the connection: a wrong address or a broker that is down;
//   - after timeout otherwise: a broker that accepts connections but does
//     not answer yet (still starting), or a network that drops packets.
//
// Each try uses a short dial timeout so an unreachable address costs little.
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

	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(err error, refused, permanent bool) error {
		return &UnreachableError{Servers: servers, Refused: refused, Permanent: permanent, Waited: time.Since(start), Err: err}
	}
	var last error
	var refusedSince time.Time
	for {
		err, refused, permanent := tcpProbe(ctx, servers, dial)
		if err == nil {
			var client sarama.Client
			client, err = sarama.NewClient(servers, &probe)
			if err == nil {
				n := len(client.Brokers())
				client.Close()
				if n > 0 {
					return nil
				}
				err = errors.New("metadata lists no brokers")
			}
			permanent = permanentKafka(err)
		}
		last = err
		if permanent {
			return fail(err, false, true)
		}
		if refused {
			if refusedSince.IsZero() {
				refusedSince = time.Now()
			}
			if time.Since(refusedSince) >= min(RefusedGrace, timeout) {
				return fail(err, true, false)
			}
		} else {
			refusedSince = time.Time{}
		}
		select {
		case <-ctx.Done():
			return fail(last, refused, false)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tcpProbe opens (and closes) a TCP connection to each server. It returns
// nil when at least one accepts; otherwise the errors, and whether every
// server refused the connection or every name failed to resolve.
func tcpProbe(ctx context.Context, servers []string, timeout time.Duration) (err error, refused, permanent bool) {
	d := net.Dialer{Timeout: timeout}
	var errs []error
	nrefused, nunknown := 0, 0
	for _, s := range servers {
		c, err := d.DialContext(ctx, "tcp", s)
		if err == nil {
			c.Close()
			return nil, false, false
		}
		var dns *net.DNSError
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			nrefused++
		case errors.As(err, &dns) && dns.IsNotFound:
			nunknown++
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...), nrefused == len(servers), nunknown == len(servers)
}

// permanentKafka reports Kafka errors that another try will not fix.
func permanentKafka(err error) bool {
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
