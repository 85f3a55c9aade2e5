package demo

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"orderflow.dev/knlocal/broker"
	"orderflow.dev/knlocal/door"
	"orderflow.dev/local/client"
)

// conn is where a run reaches the topology now: its target and a client
// that presents the token to its ingress. A run attached to an `orderflow
// up` (Target.Reread set) that restarts meanwhile refreshes it, since the
// restarted plane serves on new ports.
type conn struct {
	mu     sync.Mutex
	target Target
	client *client.Client
}

func newConn(target Target) (*conn, error) {
	c := &conn{}
	return c, c.set(target)
}

func (c *conn) set(target Target) error {
	token, err := door.ClientToken(target.TokenFile)
	if err != nil {
		return err
	}
	cl, err := client.NewWithToken(15*time.Second, token, target.CommandsIngress)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.target, c.client = target, cl
	c.mu.Unlock()
	return nil
}

func (c *conn) get() (Target, *client.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.target, c.client
}

// errNoReread: the target cannot be read again (a run in the plane's own
// process, whose endpoints do not move).
var errNoReread = errors.New("the topology's endpoints cannot be read again")

// refresh reads the endpoints again and reaches the topology through
// them from now on; it returns the brokers they name.
func (c *conn) refresh() ([]string, error) {
	old, _ := c.get()
	if old.Reread == nil {
		return nil, errNoReread
	}
	ep, err := old.Reread()
	if err != nil {
		return nil, err
	}
	next := TargetOf(ep, old.Kafka, old.Exclusive)
	next.Reread, next.OrdersTopic, next.OrderDeadLetter = old.Reread, old.OrdersTopic, old.OrderDeadLetter
	return ep.Brokers, c.set(next)
}

// redial is the follower's way back to Kafka after its broker went away:
// nil (reconnect through the same client) unless the target can be read
// again, when a client for the brokers it names now.
func (c *conn) redial() func(context.Context) (sarama.Client, error) {
	if t, _ := c.get(); t.Reread == nil {
		return nil
	}
	return func(context.Context) (sarama.Client, error) {
		brokers, err := c.refresh()
		if err != nil {
			return nil, err
		}
		return broker.NewClient(brokers, "orderflow-demo")
	}
}
