package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"orderflow.dev/knlocal/kafkalog"
	"orderflow.dev/knlocal/plane"
	"orderflow.dev/local/client"
	"orderflow.dev/shared/events"
)

// EnvMailpit names the Mailpit binary for TestNotificationsAreEmails
// (make tools builds it from tools/mailpit into bin/mailpit).
const EnvMailpit = "ORDERFLOW_MAILPIT"

// mailpitMessages is the part of Mailpit's message list the test reads.
type mailpitMessages struct {
	Total    int `json:"total"`
	Messages []struct {
		MessageID string `json:"MessageID"`
		Subject   string `json:"Subject"`
		To        []struct {
			Address string `json:"Address"`
		} `json:"To"`
	} `json:"messages"`
}

// With NOTIFY_CHANNEL=smtp, every order's outcome reaches the customer as
// one e-mail through a real SMTP server: Mailpit receives one message per
// order, to the order's address, whatever the redeliveries.
func TestNotificationsAreEmails(t *testing.T) {
	bin := os.Getenv(EnvMailpit)
	if bin == "" {
		if _, err := os.Stat(filepath.Join(root, "bin", "mailpit")); err != nil {
			needTool(t, EnvMailpit+" not set and no bin/mailpit (make tools builds it)")
		}
		bin = filepath.Join(root, "bin", "mailpit")
	}
	smtpPort, httpPort := freePort(t), freePort(t)
	// Mailpit refuses any recipient outside example.org, as a mail server
	// refuses an address it has no mailbox for.
	mailpit := startProcess(t, bin, "--smtp", fmt.Sprintf("127.0.0.1:%d", smtpPort), "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--database", filepath.Join(t.TempDir(), "mailpit.db"), "--max", "5000", "--disable-version-check",
		"--smtp-allowed-recipients", `@example\.org$`)
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/messages", httpPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var m mailpitMessages
		if client.GetJSON(context.Background(), api, &m) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mailpit did not answer within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	p := up(t, func(o *plane.Options) {
		if o.Env == nil {
			o.Env = map[string]string{}
		}
		o.Env["notify/NOTIFY_CHANNEL"] = "smtp"
		o.Env["notify/NOTIFY_SMTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", smtpPort)
	})
	const orders = 100
	res := runDemo(t, p, orders, 31)
	expectSplit(t, res, orders)

	var wanted []string // the e-mail each ended order gets, by its Message-ID
	for _, o := range res.Results {
		outcome, _, _ := strings.Cut(o.Outcome, ":") // cancelled:<reason>
		if outcome != "confirmed" && outcome != "cancelled" {
			continue // refused at placement: no saga, nothing to tell
		}
		wanted = append(wanted, fmt.Sprintf("ntf-%s-%s@orderflow-notify", o.ID, outcome))
	}
	ended := len(wanted)
	// Wait for every one of them, not for as many messages: a mail sent
	// again (its commit lost after the send: at least once, the same
	// Message-ID) is a message too, and counting those could stop the
	// wait before the last e-mails arrived.
	var m mailpitMessages
	byID := map[string]int{}
	missing := func() []string {
		var ids []string
		for _, id := range wanted {
			if byID[id] == 0 {
				ids = append(ids, id)
			}
		}
		return ids
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		if err := client.GetJSON(context.Background(), api+"?limit=5000", &m); err != nil {
			t.Fatal(err)
		}
		clear(byID)
		for _, msg := range m.Messages {
			byID[msg.MessageID]++
		}
		if len(missing()) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, msg := range m.Messages {
		if len(msg.To) != 1 || !strings.Contains(msg.To[0].Address, "@") {
			t.Errorf("message %s to %+v", msg.MessageID, msg.To)
		}
	}
	for _, id := range missing() {
		t.Errorf("no e-mail %s among %d messages", id, m.Total)
	}
	if len(byID) != ended || ended == 0 {
		t.Errorf("%d distinct e-mails for %d ended orders (%d messages)", len(byID), ended, m.Total)
	}
	t.Logf("mailpit received %d messages, %d distinct, for %d orders; e.g. %q", m.Total, len(byID), orders, m.Messages[0].Subject)

	// A recipient the server refuses for good: notification.failed, with
	// the server's answer, and no retry.
	cli(t, p, "place", "--id", "ord-refused-rcpt", "--email", "nobody@refused.example", "--sku", "sku-tee:1")
	failed := waitEvent(t, p, events.TopicNotifications, events.NotificationFailed, "ord-refused-rcpt", 30*time.Second)
	var fd events.NotificationFailedData
	if err := failed.DataAs(&fd); err != nil || !strings.Contains(fd.Reason, "smtp") {
		t.Errorf("notification.failed for a refused recipient: %+v (%v), want the SMTP server's refusal", fd, err)
	}

	// No server at all: retried by the KafkaSource, then dead-lettered.
	_ = mailpit.Process.Kill()
	_, _ = mailpit.Process.Wait()
	cli(t, p, "place", "--id", "ord-no-smtp", "--no-wait", "--sku", "sku-tee:1")
	letter := waitLetters(t, p, "notify", 1, 90*time.Second)[0]
	if letter.OrderID != "ord-no-smtp" || letter.Code != "503" || fmt.Sprint(letter.Event.Extensions()["orderflowattempts"]) == "1" {
		t.Errorf("dead letter %+v (attempts %v), want ord-no-smtp after retries, code 503", letter, letter.Event.Extensions()["orderflowattempts"])
	}
}

// waitEvent waits for an event of type typ about order on topic.
func waitEvent(t *testing.T, p *plane.Plane, topic, typ, order string, within time.Duration) event.Event {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		recs, err := kafkalog.ReadAll(context.Background(), p.Kafka(), topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Event != nil && r.Event.Type() == typ && r.Key == order {
				return *r.Event
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s for %s on %s within %s", typ, order, topic, within)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
