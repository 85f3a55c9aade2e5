package nemesis

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/lag"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/knlocal/source"
	"orderflow.dev/local/client"
	"orderflow.dev/local/demo"
	"orderflow.dev/shared/events"
)

// readOutcome waits, within bound, for the saga to settle (no record
// behind on any source's group, no dead letter waiting in the spool, every
// outbox drained, no order open), then reads the outcome from the run's
// own topics, stores and APIs: the orders topic (the oracle), the order
// function's read model, analytics' counts, the notifications and
// dead-letter topics, the groups' offsets, the outboxes.
func readOutcome(ctx context.Context, p *plane.Plane, target demo.Target, run demo.Result, start time.Time, bound time.Duration) (Outcome, error) {
	o := Outcome{SettleBound: bound}
	deadline := time.Now().Add(bound)
	var checked demo.Result
	for {
		var err error
		if checked, err = demo.Recheck(ctx, target, run); err != nil {
			return o, err
		}
		if o.Held, err = held(ctx, p); err != nil {
			return o, err
		}
		o.Backlog = backlogs(ctx, p)
		if checked.Check.Open == 0 && sumHeld(o.Held) == 0 && sumBacklog(o.Backlog) == 0 {
			o.Settled = true
			break
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return o, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	o.Invariants = checked.Check
	o.Orders = map[string]OrderLife{}
	var ids []string
	for _, r := range checked.Results {
		life := OrderLife{Placed: r.PlacedAt.Sub(start)}
		if r.Outcome != "open" && r.Latency > 0 {
			life.Ended = life.Placed + r.Latency
		}
		o.Orders[r.ID] = life
		ids = append(ids, r.ID)
	}
	var err error
	if o.OrderStatus, err = orderStatuses(ctx, p.FunctionURL("order"), ids); err != nil {
		return o, err
	}
	if o.AnalyticsByState, err = analyticsByState(ctx, p.FunctionURL("analytics")); err != nil {
		return o, err
	}
	if o.Notifications, err = notifications(ctx, target); err != nil {
		return o, err
	}
	if o.DeadLetters, err = deadLetters(ctx, p); err != nil {
		return o, err
	}
	return o, nil
}

func sumHeld(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func sumBacklog(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// held is what each source's group has not yet delivered, by
// "group/topic/partition", and the dead letters waiting in the plane's
// spool, by "source/spool".
func held(ctx context.Context, p *plane.Plane) (map[string]int64, error) {
	var groups []lag.Group
	for _, s := range p.Set.Sources {
		groups = append(groups, lag.Group{Name: s.ConsumerGroup, Topics: s.Topics})
	}
	parts, err := lag.Read(ctx, p.Kafka(), groups)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, part := range parts {
		if part.Lag > 0 {
			out[fmt.Sprintf("%s/%s/%d", part.Group, part.Topic, part.Partition)] = part.Lag
		}
	}
	for name, unsent := range p.Unsent() {
		out[name+"/spool"] = int64(len(unsent))
	}
	return out, nil
}

// backlogs reads each replica's outbox backlog from its metrics
// (orderflow_outbox_backlog); a replica that does not answer counts as
// one event behind, so a run never settles on a function it cannot see.
func backlogs(ctx context.Context, p *plane.Plane) map[string]int {
	out := map[string]int{}
	hc := &http.Client{Timeout: 5 * time.Second}
	for name := range p.Endpoints().Functions {
		for _, url := range p.ReplicaURLs(name) {
			n, err := scrapeBacklog(ctx, hc, url+"/metrics")
			if err != nil {
				n = 1
			}
			out[name] += n
		}
	}
	return out
}

// scrapeBacklog sums the orderflow_outbox_backlog samples of one metrics
// page.
func scrapeBacklog(ctx context.Context, hc *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return ParseBacklog(bufio.NewScanner(resp.Body))
}

// ParseBacklog sums the orderflow_outbox_backlog samples of a Prometheus
// text page.
func ParseBacklog(sc *bufio.Scanner) (int, error) {
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "orderflow_outbox_backlog{") && !strings.HasPrefix(line, "orderflow_outbox_backlog ") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("outbox backlog sample %q: %w", line, err)
		}
		n += int(v)
	}
	return n, sc.Err()
}

// orderStatuses asks the order function's read model for every order:
// "confirmed", "cancelled", or "" while open. An order it does not know
// (refused at the door) is left out.
func orderStatuses(ctx context.Context, orderURL string, ids []string) (map[string]string, error) {
	cl, err := client.New(15 * time.Second)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			for id := range work {
				var v events.OrderViewData
				err := cl.Query(ctx, orderURL, events.OrderQuery, events.OrderQueryData{OrderID: id}, &v)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = fmt.Errorf("order %s: %w", id, err)
				case err == nil && v.Found:
					out[id] = TerminalStatus(v.Status)
				}
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return out, firstErr
}

// TerminalStatus is a read model's status as the checker compares it:
// the terminal ones, else "" (open).
func TerminalStatus(status string) string {
	if status == "confirmed" || status == "cancelled" {
		return status
	}
	return ""
}

func analyticsByState(ctx context.Context, url string) (map[string]int, error) {
	cl, err := client.New(15 * time.Second)
	if err != nil {
		return nil, err
	}
	var v events.AnalyticsViewData
	if err := cl.Query(ctx, url, events.AnalyticsQuery, events.AnalyticsQueryData{}, &v); err != nil {
		return nil, err
	}
	if v.OrdersByState == nil {
		v.OrdersByState = map[string]int{}
	}
	return v.OrdersByState, nil
}

// notifications counts each order's distinct notifications (sent or
// failed) on the notifications topic; a redelivered copy is one.
func notifications(ctx context.Context, target demo.Target) (map[string]int, error) {
	recs, err := kafkalog.ReadAll(ctx, target.Kafka, events.TopicNotifications)
	if err != nil {
		return nil, err
	}
	return CountNotifications(recs), nil
}

// CountNotifications counts distinct notifications per order.
func CountNotifications(recs []kafkalog.Record) map[string]int {
	seen := map[string]map[string]bool{}
	for _, r := range recs {
		if r.Event == nil {
			continue
		}
		var d struct {
			OrderID        string `json:"orderId"`
			NotificationID string `json:"notificationId"`
		}
		typ := events.Current(r.Event.Type())
		if typ != events.NotificationSent && typ != events.NotificationFailed || json.Unmarshal(r.Event.Data(), &d) != nil || d.OrderID == "" {
			continue
		}
		id := d.NotificationID
		if id == "" {
			id = r.Event.ID()
		}
		if seen[d.OrderID] == nil {
			seen[d.OrderID] = map[string]bool{}
		}
		seen[d.OrderID][id] = true
	}
	out := make(map[string]int, len(seen))
	for order, ids := range seen {
		out[order] = len(ids)
	}
	return out
}

// deadLetters reads every dead-letter topic: none is replayed by the
// nemesis, so each must be explained or it is a violation.
func deadLetters(ctx context.Context, p *plane.Plane) ([]DeadLetter, error) {
	ep := p.Endpoints()
	var out []DeadLetter
	for fn, topic := range ep.DLQTopics {
		recs, err := kafkalog.ReadAll(ctx, p.Kafka(), topic)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			out = append(out, DeadLetterOf(fn, r))
		}
	}
	return out, nil
}

// DeadLetterOf describes one record of a function's dead-letter topic.
func DeadLetterOf(fn string, r kafkalog.Record) DeadLetter {
	l := DeadLetter{ID: fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset), Function: fn, OrderID: r.Key}
	if r.Event == nil {
		l.Reason = "not a CloudEvent"
		return l
	}
	l.Type = r.Event.Type()
	var d struct {
		OrderID string `json:"orderId"`
	}
	if json.Unmarshal(r.Event.Data(), &d) == nil && d.OrderID != "" {
		l.OrderID = d.OrderID
	}
	ext := r.Event.Extensions()
	l.Reason = strings.TrimSpace(fmt.Sprintf("%v %v", ext[source.ErrorCodeExtension], ext[source.ErrorDestExtension]))
	return l
}
