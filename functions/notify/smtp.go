package function

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// smtpChannel sends each notification as an e-mail through one SMTP
// server (a relay, a provider's submission port, or mailpit locally).
type smtpChannel struct {
	addr     string // host:port
	from     *mail.Address
	auth     smtp.Auth // nil: no AUTH
	timeout  time.Duration
	hostname string // for HELO and Message-ID
}

func newSMTPChannel(cfg Config) (*smtpChannel, error) {
	host, port, err := net.SplitHostPort(cfg.SMTPAddr)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("NOTIFY_SMTP_ADDR=%q is not host:port; NOTIFY_CHANNEL=smtp needs one (e.g. mail.example.org:587)", cfg.SMTPAddr)
	}
	from, err := mail.ParseAddress(cfg.SMTPFrom)
	if err != nil {
		return nil, fmt.Errorf("NOTIFY_SMTP_FROM=%q is not an e-mail address: %v", cfg.SMTPFrom, err)
	}
	if cfg.SMTPTimeout < minSendTimeout {
		return nil, fmt.Errorf("NOTIFY_SMTP_TIMEOUT=%s: want at least %s (no send finishes sooner)", cfg.SMTPTimeout, minSendTimeout)
	}
	c := &smtpChannel{addr: cfg.SMTPAddr, from: from, timeout: cfg.SMTPTimeout, hostname: "orderflow-notify"}
	switch {
	case cfg.SMTPUser != "" && cfg.SMTPPassword == "":
		return nil, errors.New("NOTIFY_SMTP_USER is set without NOTIFY_SMTP_PASSWORD")
	case cfg.SMTPUser != "":
		// net/smtp sends PLAIN credentials only over TLS (or to localhost).
		c.auth = smtp.PlainAuth("", cfg.SMTPUser, cfg.SMTPPassword, host)
	}
	return c, nil
}

func (c *smtpChannel) Name() string { return "smtp" }

// Deliver sends one message: STARTTLS when the server offers it, AUTH when
// configured. The Message-ID is the notification's id, the same on every
// attempt, so a receiver (or a person) can tell a repeat from a second
// notification. A 5xx reply is permanent (the server will never take it);
// anything else, no answer included, is worth retrying.
func (c *smtpChannel) Deliver(ctx context.Context, n Notification) error {
	to, err := mail.ParseAddress(n.To)
	if err != nil {
		return &PermanentError{Reason: fmt.Sprintf("recipient %q is not an e-mail address: %v", n.To, err)}
	}
	msg, err := c.message(n, to)
	if err != nil {
		return &PermanentError{Reason: err.Error()}
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn, err := (&net.Dialer{Deadline: deadline}).DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", c.addr, err)
	}
	_ = conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(c.addr)
	client, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return c.classify(err)
	}
	defer client.Close()
	if err := client.Hello(c.hostname); err != nil {
		return c.classify(err)
	}
	if ok, _ := client.Extension("STARTTLS"); ok {
		if err := client.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return c.classify(err)
		}
	}
	if c.auth != nil {
		if err := client.Auth(c.auth); err != nil {
			return c.classify(err)
		}
	}
	if err := client.Mail(c.from.Address); err != nil {
		return c.classify(err)
	}
	if err := client.Rcpt(to.Address); err != nil {
		return c.classify(err)
	}
	w, err := client.Data()
	if err != nil {
		return c.classify(err)
	}
	if _, err := w.Write(msg); err != nil {
		return c.classify(err)
	}
	if err := w.Close(); err != nil {
		return c.classify(err)
	}
	return c.classify(client.Quit())
}

// message renders the e-mail. Header values come from events, which anyone
// who can write a topic can forge: a line break in one would add headers
// (or a second message), so they are refused, and the subject is encoded.
func (c *smtpChannel) message(n Notification, to *mail.Address) ([]byte, error) {
	for name, v := range map[string]string{"subject": n.Subject, "id": n.ID} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("notification %s contains a line break", name)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", c.from.String())
	fmt.Fprintf(&b, "To: %s\r\n", to.String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", n.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", n.ID, c.hostname)
	fmt.Fprintf(&b, "X-Orderflow-Order: %s\r\n", n.OrderID)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	// Dot-stuffing is the DATA writer's; line ends must be CRLF.
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(n.Body, "\r\n", "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
	return []byte(b.String()), nil
}

func (c *smtpChannel) classify(err error) error {
	if err == nil {
		return nil
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return &PermanentError{Reason: fmt.Sprintf("smtp %s refused it: %d %s", c.addr, te.Code, te.Msg)}
	}
	return fmt.Errorf("smtp %s: %w", c.addr, err)
}
