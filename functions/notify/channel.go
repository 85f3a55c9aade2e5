package function

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"orderflow.dev/shared/store"
)

// Config is the notify function's own configuration.
// minSendTimeout is the shortest NOTIFY_WEBHOOK_TIMEOUT and
// NOTIFY_SMTP_TIMEOUT: a timeout no send can meet would fail every
// notification and dead-letter it.
const minSendTimeout = 10 * time.Millisecond

type Config struct {
	// Channel is log (one JSON line per notification on stdout, the
	// default: it works everywhere with nothing to set up), webhook or smtp.
	Channel string `envconfig:"NOTIFY_CHANNEL" default:"log"`
	// WebhookURL receives an HTTP POST of each notification's JSON.
	WebhookURL string `envconfig:"NOTIFY_WEBHOOK_URL"`
	// WebhookTimeout bounds one POST. Keep it below the KafkaSource
	// delivery timeout, or the dispatcher gives up before we do.
	WebhookTimeout time.Duration `envconfig:"NOTIFY_WEBHOOK_TIMEOUT" default:"5s"` // at least minSendTimeout
	// SMTP (NOTIFY_CHANNEL=smtp) sends an e-mail per notification through
	// the server at SMTPAddr (host:port), from SMTPFrom, with PLAIN auth
	// when SMTPUser is set (only over TLS: STARTTLS is used when offered).
	SMTPAddr     string        `envconfig:"NOTIFY_SMTP_ADDR"`
	SMTPFrom     string        `envconfig:"NOTIFY_SMTP_FROM" default:"orderflow <orders@orderflow.example>"`
	SMTPUser     string        `envconfig:"NOTIFY_SMTP_USER"`
	SMTPPassword string        `envconfig:"NOTIFY_SMTP_PASSWORD"`
	SMTPTimeout  time.Duration `envconfig:"NOTIFY_SMTP_TIMEOUT" default:"5s"`
}

// Channel delivers a notification. Deliver returns nil once the channel
// accepted it, a *PermanentError when it never will, and any other error
// for a failure worth retrying.
type Channel interface {
	Name() string
	Deliver(ctx context.Context, n Notification) error
}

// NewChannel builds the configured channel; every error names the variable
// to fix.
func NewChannel(cfg Config, stdout io.Writer) (Channel, error) {
	switch cfg.Channel {
	case "log":
		return &logChannel{w: stdout}, nil
	case "webhook":
		u, err := url.Parse(cfg.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("NOTIFY_WEBHOOK_URL=%q is not an absolute http(s) URL; NOTIFY_CHANNEL=webhook needs one", redactURL(cfg.WebhookURL))
		}
		if cfg.WebhookTimeout < minSendTimeout {
			return nil, fmt.Errorf("NOTIFY_WEBHOOK_TIMEOUT=%s: want at least %s (no send finishes sooner)", cfg.WebhookTimeout, minSendTimeout)
		}
		return &webhookChannel{
			target:  u.String(),
			display: redactURL(cfg.WebhookURL),
			client: &http.Client{
				Timeout: cfg.WebhookTimeout,
				// Answered 3xx is reported, not followed (see ClassifyStatus).
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			},
		}, nil
	case "smtp":
		return newSMTPChannel(cfg)
	}
	return nil, fmt.Errorf("NOTIFY_CHANNEL=%q: want log, webhook or smtp", cfg.Channel)
}

// logChannel writes each notification as one JSON line on stdout, where a
// log collector picks it up. The function's own logs go to stderr, so
// stdout carries nothing else.
type logChannel struct {
	mu sync.Mutex // func-go handles events concurrently; keep lines whole
	w  io.Writer
}

func (c *logChannel) Name() string { return "log" }

func (c *logChannel) Deliver(_ context.Context, n Notification) error {
	line, err := json.Marshal(n)
	if err != nil {
		return &PermanentError{Reason: err.Error()}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.w.Write(append(line, '\n'))
	return err
}

// webhookChannel POSTs the notification JSON to one URL.
type webhookChannel struct {
	target  string
	display string // target without credentials or query, for messages
	client  *http.Client
}

func (c *webhookChannel) Name() string { return "webhook" }

func (c *webhookChannel) Deliver(ctx context.Context, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return &PermanentError{Reason: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.target, bytes.NewReader(body))
	if err != nil {
		return &PermanentError{Reason: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	// The same id on every attempt lets the receiver drop repeats: a retry
	// after a lost answer, or a redelivery after a crash before commit.
	req.Header.Set("Idempotency-Key", n.ID)
	req.Header.Set("User-Agent", "orderflow-notify")
	resp, err := c.client.Do(req)
	if err != nil {
		// No answer at all (refused, reset, timed out): transient. The URL
		// may hold a token, so the error names the redacted one.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = c.display
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	answer := fmt.Sprintf("webhook %s answered %s", c.display, resp.Status)
	if s := strings.TrimSpace(string(snippet)); s != "" {
		answer += ": " + s
	}
	switch ClassifyStatus(resp.StatusCode) {
	case Delivered:
		return nil
	case Permanent:
		return &PermanentError{Reason: answer}
	}
	return errors.New(answer)
}

// redactURL keeps scheme, host and path: enough to recognise the target
// without printing a password or a token in the query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		// Not a URL: still no password, and no query, where a token
		// would be.
		raw, _, _ = strings.Cut(store.RedactRawURL(raw), "?")
		if len(raw) > 60 {
			return raw[:60] + "..."
		}
		return raw
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
