package nemesis

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"orderflow.dev/knlocal/plane"
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
	if u.Host == upstream || u.Query().Get("search_path") != "s" || env["order/OTHER"] != "x" || !reflect.DeepEqual(l.Functions(LinkDatabase), []string{"order"}) || len(l.Functions(LinkBroker)) != 0 {
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

// A function's K_SINK is routed through its broker link, and the link's
// toxics act on its publishes (HTTP POSTs to the KafkaSink receiver) as
// they come: latency delays the answer; a partition lets the request
// reach the sink and holds its answer until the link heals, when the
// request fails and a new one goes through; a reset fails the request.
func TestBrokerLinkFaults(t *testing.T) {
	var received atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()
	l := NewLinks()
	defer l.Close()
	target := sink.URL + "/orderflow/orders"
	env := map[string]string{"K_SINK": target, "OTHER": "x"}
	if err := l.RouteSink("order", env); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(env["K_SINK"])
	if u.Host == strings.TrimPrefix(sink.URL, "http://") || u.Path != "/orderflow/orders" || env["OTHER"] != "x" ||
		!reflect.DeepEqual(l.Functions(LinkBroker), []string{"order"}) || len(l.Functions(LinkDatabase)) != 0 {
		t.Fatalf("routed env %v, links %v", env, l.Functions(LinkBroker))
	}
	// Another replica of order starting goes through the same proxy; a
	// function without K_SINK gets no link.
	replica, silent := map[string]string{"K_SINK": target}, map[string]string{"OTHER": "x"}
	if err := l.RouteSink("order", replica); err != nil || replica["K_SINK"] != env["K_SINK"] {
		t.Fatalf("a second replica routed to %q (%v), the first to %q", replica["K_SINK"], err, env["K_SINK"])
	}
	if err := l.RouteSink("analytics", silent); err != nil || len(silent) != 1 || len(l.Functions(LinkBroker)) != 1 {
		t.Fatalf("a function without K_SINK: %v, %v, links %v", silent, err, l.Functions(LinkBroker))
	}

	// As the relay's sender: keep-alive connections, a timeout per POST.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	publish := func(ctx context.Context) (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, env["K_SINK"], strings.NewReader(`{"orderId":"o1"}`))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return time.Since(start), err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("the sink answered %s", resp.Status)
		}
		return time.Since(start), nil
	}
	ctx := context.Background()
	if _, err := publish(ctx); err != nil {
		t.Fatalf("through the link: %v", err)
	}

	latency := Fault{Kind: NetworkLatency, Target: "order", Link: LinkBroker, Param: 300}
	if err := l.Toxic(ctx, "order", latency, true); err != nil {
		t.Fatal(err)
	}
	if took, err := publish(ctx); err != nil || took < 300*time.Millisecond {
		t.Fatalf("a publish with 300 ms of latency took %s (%v)", took, err)
	}
	if err := l.Toxic(ctx, "order", latency, false); err != nil {
		t.Fatal(err)
	}

	partition := Fault{Kind: NetworkPartition, Target: "order", Link: LinkBroker}
	if err := l.Toxic(ctx, "order", partition, true); err != nil {
		t.Fatal(err)
	}
	before := received.Load()
	held := make(chan error, 1)
	go func() { _, err := publish(ctx); held <- err }()
	select {
	case err := <-held:
		t.Fatalf("a publish ended through a partition: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	if received.Load() != before+1 {
		t.Fatalf("the sink received %d publishes during the partition, want the held one", received.Load()-before)
	}
	if err := l.Toxic(ctx, "order", partition, false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-held:
		if err == nil {
			t.Fatal("the publish held by the partition was answered after it healed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the publish held by the partition did not end when it healed")
	}
	if _, err := publish(ctx); err != nil {
		t.Fatalf("after the partition healed: %v", err)
	}

	reset := Fault{Kind: NetworkReset, Target: "order", Link: LinkBroker}
	if err := l.Toxic(ctx, "order", reset, true); err != nil {
		t.Fatal(err)
	}
	if _, err := publish(ctx); err == nil {
		t.Fatal("a publish was answered through a reset link")
	}
	if err := l.Toxic(ctx, "order", reset, false); err != nil {
		t.Fatal(err)
	}
	if _, err := publish(ctx); err != nil {
		t.Fatalf("after the reset healed: %v", err)
	}

	// Toxics go on the fault's link of the function it names.
	if err := l.Toxic(ctx, "payment", reset, true); err == nil || !strings.Contains(err.Error(), "payment has no broker link") {
		t.Fatalf("a function without a broker link: %v", err)
	}
	onDatabase := reset
	onDatabase.Link = LinkDatabase
	if err := l.Toxic(ctx, "order", onDatabase, true); err == nil || !strings.Contains(err.Error(), "order has no database link") {
		t.Fatalf("a function without a database link: %v", err)
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

// orderflow's topology, on the embedded broker with SQLite: every function
// publishes through a K_SINK, so the network faults are drawn on broker
// links (and on no database link), and a dry run says so.
func TestOrderflowDrawsBrokerLinkFaultsOnSQLite(t *testing.T) {
	cfg := Config{Base: plane.Options{Manifests: filepath.Join("..", "..", "knative", "base")},
		Orders: 300, Rate: 50, MinFaults: 3, MaxFaults: 8, SettleBound: time.Minute}
	topo, err := TopologyOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kinds := topo.Kinds()
	if !topo.BrokerLink || topo.Postgres || !slices.Contains(kinds, NetworkPartition) || slices.Contains(kinds, StopDatabase) {
		t.Fatalf("topology %+v: kinds %v", topo, kinds)
	}
	var out strings.Builder
	if err := DryRun(&out, cfg, Seeds(1, 10)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "network faults on each function's broker link (its K_SINK)\n") ||
		!strings.Contains(out.String(), "(broker link)") || strings.Contains(out.String(), "(database link)") {
		t.Fatalf("dry run:\n%s", out.String())
	}
}
