package main

// --brokers for the operator commands: each works against the running
// `orderflow up` of the state directory by default, or, given --brokers,
// against any Kafka holding orderflow's topics, reading what it needs from
// Kafka itself (security from the ORDERFLOW_KAFKA_* variables, as for up).

import (
	"fmt"
	"net"
	"strings"

	"github.com/IBM/sarama"
	"github.com/spf13/cobra"

	"orderflow.dev/knlocal/broker"
)

// brokersFlag is a command's --brokers.
type brokersFlag struct{ servers []string }

// register adds --brokers to cmd (persistent: for its subcommands too).
func (b *brokersFlag) register(cmd *cobra.Command, persistent bool) {
	flags := cmd.Flags()
	if persistent {
		flags = cmd.PersistentFlags()
	}
	flags.Var(brokerList(&b.servers), "brokers",
		"bootstrap servers (host:port,...) of any Kafka holding orderflow's topics, instead of the running up's; SASL/TLS from ORDERFLOW_KAFKA_* as for up")
}

// set reports whether --brokers was given.
func (b *brokersFlag) set() bool { return len(b.servers) > 0 }

// validate wants every server of --brokers as host:port.
func (b *brokersFlag) validate() error { return checkBrokers("--brokers", b.servers) }

// client connects to the given brokers, named clientID in their logs.
func (b *brokersFlag) client(clientID string) (sarama.Client, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	// Not reaching Kafka is no usage error (exit 3, not 2; an error that
	// starts with a flag's name is one): the address was well formed.
	kc, err := broker.NewClient(b.servers, clientID)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Kafka: %w", err)
	}
	return kc, nil
}

// checkBrokers wants every server as host:port.
func checkBrokers(flag string, servers []string) error {
	for _, s := range servers {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("%s %q: want host:port", flag, s)
		}
	}
	return nil
}

// brokerList is the value of every command's --brokers: host:port entries,
// comma-separated, the flag repeatable (as a string slice). It refuses at
// parse time what a string slice would take and a command would then read
// as "no --brokers": an empty value (--brokers "$UNSET_VARIABLE") or an
// empty entry (a:9092,,b:9092) would otherwise start the embedded broker,
// or use the running up's, without a word. Entries are checked as
// checkBrokers does.
func brokerList(into *[]string) *brokerListValue { return &brokerListValue{into: into} }

type brokerListValue struct {
	into *[]string
	set  bool // a first Set replaces the default; later ones add to it
}

func (v *brokerListValue) Set(s string) error {
	var servers []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			return fmt.Errorf("an empty server: name each as host:port (leave --brokers out for the default)")
		}
		servers = append(servers, e)
	}
	if err := checkBrokers("server", servers); err != nil {
		return err
	}
	if v.set {
		*v.into = append(*v.into, servers...)
	} else {
		*v.into = servers
		v.set = true
	}
	return nil
}

func (v *brokerListValue) String() string { return strings.Join(*v.into, ",") }
func (v *brokerListValue) Type() string   { return "strings" }
