package function

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// smtpServer speaks just enough SMTP for the channel: it answers RCPT with
// rcptReply and keeps each message it accepts.
type smtpServer struct {
	addr      string
	rcptReply string
	messages  chan string
}

func startSMTP(t *testing.T, rcptReply string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpServer{addr: ln.Addr().String(), rcptReply: rcptReply, messages: make(chan string, 10)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(line string) { conn.Write([]byte(line + "\r\n")) }
	say("220 test ready")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.Fields(line + " x")[0])
		switch cmd {
		case "EHLO", "HELO":
			say("250 test")
		case "MAIL":
			say("250 ok")
		case "RCPT":
			say(s.rcptReply)
		case "DATA":
			say("354 go on")
			var msg strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			s.messages <- msg.String()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown")
		}
	}
}

func smtpConfig(addr string) Config {
	return Config{Channel: "smtp", SMTPAddr: addr, SMTPFrom: "orderflow <orders@orderflow.example>", SMTPTimeout: 2 * time.Second}
}

func TestSMTPSendsOneMailPerNotification(t *testing.T) {
	srv := startSMTP(t, "250 ok")
	ch, err := NewChannel(smtpConfig(srv.addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := Notification{ID: "ntf-o-1-confirmed", OrderID: "o-1", To: "ada@example.org", Subject: "Your order o-1 is confirmed – thank you",
		Body: "Line one\nLine two\n.starts with a dot"}
	if err := ch.Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	msg := <-srv.messages
	for _, want := range []string{"From: \"orderflow\" <orders@orderflow.example>\r\n", "To: <ada@example.org>\r\n",
		"Message-ID: <ntf-o-1-confirmed@orderflow-notify>\r\n", "Subject: =?utf-8?q?", "\r\nLine one\r\nLine two\r\n..starts with a dot"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestSMTPFailuresAreClassified(t *testing.T) {
	var perm *PermanentError
	refused := startSMTP(t, "550 no such user")
	ch, _ := NewChannel(smtpConfig(refused.addr), nil)
	if err := ch.Deliver(context.Background(), Notification{ID: "n", To: "x@example.org", Subject: "s"}); !errors.As(err, &perm) {
		t.Errorf("a 550 is %v, want permanent", err)
	}
	busy := startSMTP(t, "451 try later")
	ch, _ = NewChannel(smtpConfig(busy.addr), nil)
	if err := ch.Deliver(context.Background(), Notification{ID: "n", To: "x@example.org", Subject: "s"}); err == nil || errors.As(err, &perm) {
		t.Errorf("a 451 is %v, want a transient error", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := ln.Addr().String()
	ln.Close()
	ch, _ = NewChannel(smtpConfig(gone), nil)
	if err := ch.Deliver(context.Background(), Notification{ID: "n", To: "x@example.org", Subject: "s"}); err == nil || errors.As(err, &perm) {
		t.Errorf("no server is %v, want a transient error", err)
	}
	// Forged input: a header injection or a recipient that is no address.
	ok := startSMTP(t, "250 ok")
	ch, _ = NewChannel(smtpConfig(ok.addr), nil)
	for _, n := range []Notification{
		{ID: "n", To: "x@example.org", Subject: "hi\r\nBcc: everyone@example.org"},
		{ID: "n", To: "not an address", Subject: "s"},
		{ID: "n", To: "x@example.org\r\nBcc: y@example.org", Subject: "s"},
	} {
		if err := ch.Deliver(context.Background(), n); !errors.As(err, &perm) {
			t.Errorf("%+v: %v, want a permanent refusal", n, err)
		}
	}
	select {
	case m := <-ok.messages:
		t.Errorf("a forged notification was sent:\n%s", m)
	default:
	}
}

func TestSMTPConfigErrorsNameTheVariable(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Channel: "smtp", SMTPFrom: "a@b.example", SMTPTimeout: time.Second}, "NOTIFY_SMTP_ADDR"},
		{Config{Channel: "smtp", SMTPAddr: "mail:25", SMTPFrom: "nobody", SMTPTimeout: time.Second}, "NOTIFY_SMTP_FROM"},
		{Config{Channel: "smtp", SMTPAddr: "mail:25", SMTPFrom: "a@b.example"}, "NOTIFY_SMTP_TIMEOUT"},
		{Config{Channel: "smtp", SMTPAddr: "mail:25", SMTPFrom: "a@b.example", SMTPTimeout: time.Nanosecond}, "NOTIFY_SMTP_TIMEOUT=1ns: want at least 10ms"},
		{Config{Channel: "smtp", SMTPAddr: "mail:25", SMTPFrom: "a@b.example", SMTPTimeout: time.Second, SMTPUser: "u"}, "NOTIFY_SMTP_PASSWORD"},
		{Config{Channel: "pigeon"}, "NOTIFY_CHANNEL"},
	} {
		if _, err := NewChannel(tt.cfg, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want an error naming %s", tt.cfg, err, tt.want)
		}
	}
}
