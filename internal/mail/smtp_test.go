package mail

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

var testDate = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// testEnvelope is a message with both parts.
func testEnvelope() Envelope {
	return Envelope{
		From:    "Gatehouse <no-reply@example.com>",
		To:      "eve@example.org",
		ToName:  "Eve Example",
		Subject: "Verify your email address",
		Text:    "Hello Eve,\n\nYour code is 123456.\n",
		HTML:    "<p>Hello Eve,</p><p>Your code is <b>123456</b>.</p>",
		Headers: map[string]string{"Auto-Submitted": "auto-generated"},
	}
}

// parsedMsg is a received message taken apart.
type parsedMsg struct {
	Header mail.Header
	Parts  map[string]string // content type (without parameters) → decoded body
	Raw    string
}

func parseReceived(t *testing.T, raw []byte) parsedMsg {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, raw)
	}
	pm := parsedMsg{Header: m.Header, Parts: map[string]string{}, Raw: string(raw)}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		pm.Parts[mt] = decodePart(t, textproto.MIMEHeader(m.Header), m.Body)
		return pm
	}
	pm.Parts[mt] = ""
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		pm.Parts[pt] = decodePart(t, p.Header, p)
	}
	return pm
}

func decodePart(t *testing.T, h textproto.MIMEHeader, r io.Reader) string {
	t.Helper()
	if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read part: %v", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// headerNames lists the field names of the raw message's header section, in order.
func headerNames(raw string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // folded continuation
		}
		name, _, _ := strings.Cut(line, ":")
		names = append(names, strings.ToLower(name))
	}
	return names
}

func sendCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSMTPSenderDelivers(t *testing.T) {
	serverTLS, clientTLS := testCertificates(t)
	users := map[string]string{"mailer": "s3cret"}
	tests := []struct {
		name     string
		opts     testSMTPOptions
		url      string // host:port is appended
		wantTLS  bool
		wantUser string
		wantMech string
	}{
		{name: "plain, no credentials", opts: testSMTPOptions{}, url: "smtp://"},
		{name: "no credentials upgrades when offered", opts: testSMTPOptions{TLS: serverTLS}, url: "smtp://", wantTLS: true},
		{name: "STARTTLS with AUTH PLAIN", opts: testSMTPOptions{TLS: serverTLS, Users: users}, url: "smtp://mailer:s3cret@", wantTLS: true, wantUser: "mailer", wantMech: sasl.Plain},
		{name: "STARTTLS with AUTH LOGIN", opts: testSMTPOptions{TLS: serverTLS, Users: users, Mechanisms: []string{sasl.Login}}, url: "smtp://mailer:s3cret@", wantTLS: true, wantUser: "mailer", wantMech: sasl.Login},
		{name: "implicit TLS with AUTH", opts: testSMTPOptions{TLS: serverTLS, Implicit: true, Users: users}, url: "smtps://mailer:s3cret@", wantTLS: true, wantUser: "mailer", wantMech: sasl.Plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startTestSMTP(t, tt.opts)
			server, err := ParseURL(tt.url + srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			s := NewSMTPSender(server, SMTPOptions{TLSConfig: clientTLS, Now: func() time.Time { return testDate }})
			id, err := s.Send(sendCtx(t), testEnvelope())
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server received %d messages, want 1", len(msgs))
			}
			got := msgs[0]
			if got.From != "no-reply@example.com" || len(got.To) != 1 || got.To[0] != "eve@example.org" {
				t.Errorf("envelope = MAIL FROM %q RCPT TO %q; want no-reply@example.com → eve@example.org", got.From, got.To)
			}
			if got.TLS != tt.wantTLS || got.User != tt.wantUser || got.Mechs != tt.wantMech {
				t.Errorf("connection: tls=%v user=%q mech=%q; want tls=%v user=%q mech=%q", got.TLS, got.User, got.Mechs, tt.wantTLS, tt.wantUser, tt.wantMech)
			}
			pm := parseReceived(t, got.Data)
			checkHeaders(t, pm, id)
		})
	}
}

func checkHeaders(t *testing.T, pm parsedMsg, id string) {
	t.Helper()
	h := pm.Header
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "no-reply@example.com" || from[0].Name != "Gatehouse" {
		t.Errorf("From = %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "eve@example.org" || to[0].Name != "Eve Example" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if got := h.Get("Subject"); got != "Verify your email address" {
		t.Errorf("Subject = %q", got)
	}
	if got := h.Get("Message-Id"); got == "" || got != id || !strings.HasSuffix(got, "@example.com>") || !strings.HasPrefix(got, "<") {
		t.Errorf("Message-ID = %q, provider id = %q; want equal, <…@example.com>", got, id)
	}
	if d, err := h.Date(); err != nil || !d.Equal(testDate) {
		t.Errorf("Date = %v (%v), want %v", d, err, testDate)
	}
	if got := h.Get("Mime-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q", got)
	}
	if got := h.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if _, ok := pm.Parts["multipart/alternative"]; !ok {
		t.Errorf("Content-Type = %q, want multipart/alternative", h.Get("Content-Type"))
	}
	if got, want := pm.Parts["text/plain"], testEnvelope().Text; got != want {
		t.Errorf("text part = %q, want %q", got, want)
	}
	if got, want := pm.Parts["text/html"], testEnvelope().HTML; got != want {
		t.Errorf("HTML part = %q, want %q", got, want)
	}
	for _, name := range headerNames(pm.Raw) {
		if name == "bcc" || name == "user-agent" || name == "x-mailer" {
			t.Errorf("unexpected header field %q", name)
		}
	}
}

func TestSMTPSenderFailures(t *testing.T) {
	serverTLS, clientTLS := testCertificates(t)
	users := map[string]string{"mailer": "s3cret"}
	reject := func(code int, enh smtp.EnhancedCode, text string) func(string) error {
		return func(string) error { return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text} }
	}
	tests := []struct {
		name         string
		opts         testSMTPOptions
		url          string
		wantErr      []string
		wantRejected bool
	}{
		{
			name:         "recipient refused for good",
			opts:         testSMTPOptions{Rcpt: reject(550, smtp.EnhancedCode{5, 1, 1}, "No such user here")},
			url:          "smtp://",
			wantErr:      []string{"550", "No such user here"},
			wantRejected: true,
		},
		{
			name:    "recipient refused for now",
			opts:    testSMTPOptions{Rcpt: reject(451, smtp.EnhancedCode{4, 3, 0}, "Try again later")},
			url:     "smtp://",
			wantErr: []string{"451", "Try again later"},
		},
		{
			name:    "credentials but no STARTTLS",
			opts:    testSMTPOptions{},
			url:     "smtp://mailer:s3cret@",
			wantErr: []string{"STARTTLS"},
		},
		{
			name:    "wrong password",
			opts:    testSMTPOptions{TLS: serverTLS, Users: users},
			url:     "smtp://mailer:wrong@",
			wantErr: []string{"535"},
		},
		{
			name:    "server requires AUTH but no credentials",
			opts:    testSMTPOptions{TLS: serverTLS, Users: users},
			url:     "smtp://",
			wantErr: []string{"authenticate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startTestSMTP(t, tt.opts)
			server, err := ParseURL(tt.url + srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewSMTPSender(server, SMTPOptions{TLSConfig: clientTLS}).Send(sendCtx(t), testEnvelope())
			if err == nil {
				t.Fatal("Send succeeded")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
			if got := errors.Is(err, ErrRejected); got != tt.wantRejected {
				t.Errorf("errors.Is(err, ErrRejected) = %v, want %v (err: %v)", got, tt.wantRejected, err)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server received %d messages", n)
			}
		})
	}
}

func TestSMTPSenderCancelled(t *testing.T) {
	srv := startTestSMTP(t, testSMTPOptions{})
	server, _ := ParseURL("smtp://" + srv.Addr)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := NewSMTPSender(server, SMTPOptions{}).Send(ctx, testEnvelope())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// TestSMTPSenderHeaderInjection checks that names, addresses, the subject and extra headers
// cannot add header fields (a Bcc to a victim) to the message the server receives.
func TestSMTPSenderHeaderInjection(t *testing.T) {
	srv := startTestSMTP(t, testSMTPOptions{})
	server, _ := ParseURL("smtp://" + srv.Addr)
	s := NewSMTPSender(server, SMTPOptions{})

	t.Run("display name with a line break is encoded", func(t *testing.T) {
		env := testEnvelope()
		env.ToName = "Eve\r\nBcc: victim@x"
		if _, err := s.Send(sendCtx(t), env); err != nil {
			t.Fatalf("Send: %v", err)
		}
		msgs := srv.Messages()
		got := msgs[len(msgs)-1]
		if len(got.To) != 1 || got.To[0] != "eve@example.org" {
			t.Errorf("RCPT TO = %q, want only eve@example.org", got.To)
		}
		for _, name := range headerNames(string(got.Data)) {
			if name == "bcc" {
				t.Fatalf("the name added a Bcc header:\n%s", got.Data)
			}
		}
		pm := parseReceived(t, got.Data)
		to, err := pm.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != "eve@example.org" || to[0].Name != "Eve\r\nBcc: victim@x" {
			t.Errorf("To = %v (%v); want the name kept, encoded", to, err)
		}
	})

	refused := []struct {
		name string
		edit func(*Envelope)
	}{
		{"address with a line break", func(e *Envelope) { e.To = "eve@example.org\r\nBcc: victim@x" }},
		{"address with a display name", func(e *Envelope) { e.To = "Eve <eve@example.org>" }},
		{"two addresses", func(e *Envelope) { e.To = "eve@example.org, victim@x" }},
		{"From with a line break", func(e *Envelope) { e.From = "\"Eve\r\nBcc: victim@x\" <no-reply@example.com>" }},
		{"subject with a line break", func(e *Envelope) { e.Subject = "Hi\r\nBcc: victim@x" }},
		{"extra header value with a line break", func(e *Envelope) { e.Headers = map[string]string{"X-Tag": "a\r\nBcc: victim@x"} }},
		{"extra header that sets Bcc", func(e *Envelope) { e.Headers = map[string]string{"Bcc": "victim@x"} }},
		{"extra header that sets the content type", func(e *Envelope) { e.Headers = map[string]string{"Content-Type": "text/plain"} }},
		{"extra header name with a colon", func(e *Envelope) { e.Headers = map[string]string{"X-A: b\r\nBcc": "victim@x"} }},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Messages())
			env := testEnvelope()
			tt.edit(&env)
			if _, err := s.Send(sendCtx(t), env); err == nil {
				t.Fatal("Send accepted the envelope")
			}
			if n := len(srv.Messages()); n != before {
				t.Errorf("server received a message")
			}
		})
	}
}
