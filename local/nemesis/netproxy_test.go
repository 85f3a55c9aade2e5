package nemesis

import (
	"bufio"
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// echo serves lines back on a loopback port until the test ends.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// A function's DATABASE_URL is routed through its link, and the link's
// toxics act on it: a partition holds the data until it heals, a reset
// cuts the connection.
func TestDatabaseLinkFaults(t *testing.T) {
	upstream := echo(t)
	env := map[string]string{"order/ORDERFLOW_DATABASE_URL": "postgres://u:p@" + upstream + "/db?search_path=s", "order/OTHER": "x", "GLOBAL": "y"}
	l := NewLinks()
	defer l.Close()
	if err := l.Route(env); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(env["order/ORDERFLOW_DATABASE_URL"])
	if u.Host == upstream || u.Query().Get("search_path") != "s" || env["order/OTHER"] != "x" || len(l.Functions()) != 1 {
		t.Fatalf("routed env %v", env)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	roundTrip := func(wait time.Duration) error {
		if _, err := conn.Write([]byte("ping\n")); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		line, err := r.ReadString('\n')
		if err == nil && line != "ping\n" {
			t.Fatalf("echo %q", line)
		}
		return err
	}
	if err := roundTrip(5 * time.Second); err != nil {
		t.Fatalf("through the link: %v", err)
	}
	ctx := context.Background()
	partition := Fault{Kind: NetworkPartition, Target: "order", Link: LinkDatabase}
	if err := l.Toxic(ctx, "order", partition, true); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(300 * time.Millisecond); err == nil {
		t.Fatal("an answer came through a partition")
	}
	if err := l.Toxic(ctx, "order", partition, false); err != nil {
		t.Fatal(err)
	}
	// A fresh connection works once the partition heals.
	conn2, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	conn, r = conn2, bufio.NewReader(conn2)
	if err := roundTrip(5 * time.Second); err != nil {
		t.Fatalf("after the partition healed: %v", err)
	}
	reset := Fault{Kind: NetworkReset, Target: "order", Link: LinkDatabase}
	if err := l.Toxic(ctx, "order", reset, true); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(2 * time.Second); err == nil {
		t.Fatal("an answer came through a reset link")
	}
	if err := l.Toxic(ctx, "order", reset, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Toxic(ctx, "payment", reset, true); err == nil || !strings.Contains(err.Error(), "payment") {
		t.Fatalf("a function without a link: %v", err)
	}
}

// Without a broker link, network faults are drawn on database links only.
func TestNoBrokerLinkDrawnWithoutOne(t *testing.T) {
	topo := topology(true)
	topo.Injectable = []Kind{NetworkLatency, NetworkReset, NetworkPartition}
	for seed := uint64(1); seed <= 50; seed++ {
		s, err := Generate(seed, topo, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range s.Faults {
			if f.Link != LinkDatabase || f.Target == "" {
				t.Fatalf("seed %d drew %s", seed, f)
			}
		}
	}
}
