package main

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gatehouse/gatehouse/internal/apitest"
)

// smtpCatcher is a real SMTP server in the test process that keeps the text part of every message.
type smtpCatcher struct {
	addr string
	mu   sync.Mutex
	msgs []caughtMail
}

type caughtMail struct {
	To      []string
	Header  mail.Header
	Text    string
	RawSize int
}

func startSMTPCatcher(t *testing.T) *smtpCatcher {
	t.Helper()
	c := &smtpCatcher{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &catcherSession{c: c}, nil }))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return c
}

// wait returns the first message to `to` once it has arrived.
func (c *smtpCatcher) wait(t *testing.T, to string) caughtMail {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		for _, m := range c.msgs {
			for _, r := range m.To {
				if r == to {
					c.mu.Unlock()
					return m
				}
			}
		}
		c.mu.Unlock()
	}
	t.Fatalf("no mail to %s reached the SMTP server", to)
	return caughtMail{}
}

type catcherSession struct {
	c  *smtpCatcher
	to []string
}

func (s *catcherSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *catcherSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *catcherSession) Reset()        { s.to = nil }
func (s *catcherSession) Logout() error { return nil }

func (s *catcherSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	text, err := textPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil {
		return err
	}
	s.c.mu.Lock()
	s.c.msgs = append(s.c.msgs, caughtMail{To: s.to, Header: msg.Header, Text: text, RawSize: len(raw)})
	s.c.mu.Unlock()
	return nil
}

// textPart finds the text/plain part of a message body and decodes it.
func textPart(contentType, encoding string, body io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return "", err
			}
			if t, err := textPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err == nil && t != "" {
				return t, nil
			}
		}
	}
	if mt != "text/plain" {
		return "", nil
	}
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	return string(b), err
}

// TestEmailOverSMTP: with an SMTP server configured, the verification email reaches it (link and
// code in the text part, proper headers), the dev outbox is gone, and no secret of the whole
// sign-up, verification, sign-in and refresh loop appears in the server's log.
func TestEmailOverSMTP(t *testing.T) {
	catcher := startSMTPCatcher(t)
	srv := startServer(t, map[string]string{
		"GATEHOUSE_SMTP_URL":  "smtp://" + catcher.addr,
		"GATEHOUSE_SMTP_FROM": "Example Shop <no-reply@shop.example>",
		"GATEHOUSE_LOG_LEVEL": "debug",
	})
	c := apitest.NewClient(t, srv.URL)
	const email = "smtp-user@example.com"
	// A name cannot smuggle a header line: control characters are refused outright.
	r := c.AllowInvalidRequests().Post("/api/v1/auth/register", map[string]any{"email": email, "password": testPassword, "name": "Eve\r\nBcc: victim@example.com"})
	if p := r.Problem(t); r.Status != http.StatusUnprocessableEntity || p.Errors[0].Field != "name" {
		t.Fatalf("name with CR/LF = %d %+v", r.Status, p)
	}
	if r := c.Post("/api/v1/auth/register", map[string]any{"email": email, "password": testPassword, "name": "Eve <script>alert(1)</script> Bcc: victim@example.com"}); r.Status != http.StatusAccepted {
		t.Fatalf("register = %d %s", r.Status, r.Body)
	}
	m := catcher.wait(t, email)
	if m.Header.Get("Bcc") != "" || len(m.To) != 1 {
		t.Fatalf("header injection through the name: Bcc %q, recipients %v", m.Header.Get("Bcc"), m.To)
	}
	if from := m.Header.Get("From"); !strings.Contains(from, "no-reply@shop.example") || m.Header.Get("Message-Id") == "" || m.Header.Get("Date") == "" {
		t.Fatalf("headers: From %q, Message-Id %q, Date %q", from, m.Header.Get("Message-Id"), m.Header.Get("Date"))
	}
	link := linkToken.FindStringSubmatch(m.Text)
	code := sixDigits.FindStringSubmatch(m.Text)
	if link == nil || code == nil {
		t.Fatalf("no link or code in the text part:\n%s", m.Text)
	}
	if r := c.AllowInvalidRequests().Get("/api/v1/dev/outbox"); r.Status != http.StatusNotFound {
		t.Fatalf("dev outbox with SMTP configured = %d", r.Status)
	}
	if r := c.Post("/api/v1/auth/email/verify", map[string]any{"email": email, "code": code[1]}); r.Status != http.StatusOK {
		t.Fatalf("verify = %d %s", r.Status, r.Body)
	}
	tk := login(t, c, email, testPassword)
	var next tokens
	refresh(c, tk.RefreshToken).JSON(t, &next)
	c.Do(http.MethodGet, "/api/v1/account", nil, bearer(next.AccessToken))
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	logs := srv.logs.String()
	for name, secret := range map[string]string{
		"password": testPassword, "verification link token": link[1], "verification code line": "code: " + code[1],
		"access token": tk.AccessToken, "refresh token": tk.RefreshToken,
		"rotated refresh token": next.RefreshToken, "rotated access token": next.AccessToken,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the %s appears in the log", name)
		}
	}
}
