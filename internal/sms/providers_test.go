package sms

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/requestid"
)

// recorded is one request a test server received.
type recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// recorder is a provider stand-in: it records every request and answers with the next scripted
// answer (the last one repeats).
type recorder struct {
	t       *testing.T
	mu      sync.Mutex
	reqs    []recorded
	answers []answer
	srv     *httptest.Server
}

type answer struct {
	status int
	body   string
	block  bool // wait until the client gives up
}

func newRecorder(t *testing.T, answers ...answer) *recorder {
	t.Helper()
	r := &recorder{t: t, answers: answers}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.t.Errorf("read request body: %v", err)
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, recorded{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
	a := r.answers[min(len(r.reqs), len(r.answers))-1]
	r.mu.Unlock()
	if a.block {
		<-req.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func (r *recorder) only(t *testing.T) recorded {
	t.Helper()
	reqs := r.requests()
	if len(reqs) != 1 {
		t.Fatalf("the server got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

const twilioCreated = `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","to":"+96550000000","body":"…"}`

func newTestTwilio(t *testing.T, srv *recorder, opts TwilioOptions) *Twilio {
	t.Helper()
	opts.BaseURL = srv.srv.URL
	if opts.AccountSID == "" {
		opts.AccountSID = "AC0000000000000000000000000000test"
	}
	if opts.AuthToken == "" {
		opts.AuthToken = "twilio-auth-token"
	}
	if opts.From == "" && opts.MessagingServiceSID == "" {
		opts.From = "+15005550006"
	}
	tw, err := NewTwilio(opts)
	if err != nil {
		t.Fatalf("NewTwilio: %v", err)
	}
	return tw
}

func testMessage() Message {
	return Message{To: "+96550000000", Text: "Gatehouse: your sign-in code is 482913.", ID: "0190c6f2-7b4e-7a00-8000-000000000001", Purpose: PurposeLogin}
}

func TestTwilioSend(t *testing.T) {
	srv := newRecorder(t, answer{status: http.StatusCreated, body: twilioCreated})
	tw := newTestTwilio(t, srv, TwilioOptions{})
	ctx := requestid.NewContext(t.Context(), "req-twilio-1")

	id, err := tw.Send(ctx, testMessage())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if id != "SM0123456789abcdef0123456789abcdef" {
		t.Errorf("provider id = %q", id)
	}
	req := srv.only(t)
	if req.Method != http.MethodPost || req.Path != "/2010-04-01/Accounts/AC0000000000000000000000000000test/Messages.json" {
		t.Errorf("request = %s %s", req.Method, req.Path)
	}
	user, pass, ok := (&http.Request{Header: req.Header}).BasicAuth()
	if !ok || user != "AC0000000000000000000000000000test" || pass != "twilio-auth-token" {
		t.Errorf("basic auth = %q %q %v", user, pass, ok)
	}
	if got := req.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := req.Header.Get(requestid.Header); got != "req-twilio-1" {
		t.Errorf("X-Request-ID = %q, want the context's", got)
	}
	form, err := url.ParseQuery(string(req.Body))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"To": {"+96550000000"}, "From": {"+15005550006"}, "Body": {testMessage().Text}}
	if form.Encode() != want.Encode() {
		t.Errorf("form = %v, want %v", form, want)
	}
}

func TestTwilioOptions(t *testing.T) {
	t.Run("messaging service and API key", func(t *testing.T) {
		srv := newRecorder(t, answer{status: http.StatusCreated, body: twilioCreated})
		tw := newTestTwilio(t, srv, TwilioOptions{From: "+15005550006", MessagingServiceSID: "MG123", APIKeySID: "SK123", AuthToken: "key-secret"})
		if _, err := tw.Send(t.Context(), testMessage()); err != nil {
			t.Fatal(err)
		}
		req := srv.only(t)
		form, _ := url.ParseQuery(string(req.Body))
		if form.Get("MessagingServiceSid") != "MG123" || form.Has("From") {
			t.Errorf("form = %v, want MessagingServiceSid alone", form)
		}
		if user, pass, _ := (&http.Request{Header: req.Header}).BasicAuth(); user != "SK123" || pass != "key-secret" {
			t.Errorf("basic auth = %q %q, want the API key", user, pass)
		}
		if got := req.Header.Get(requestid.Header); got != "" {
			t.Errorf("X-Request-ID = %q without a request id in the context", got)
		}
	})
	t.Run("2xx without a readable body is still sent", func(t *testing.T) {
		srv := newRecorder(t, answer{status: http.StatusCreated, body: "not json"})
		id, err := newTestTwilio(t, srv, TwilioOptions{}).Send(t.Context(), testMessage())
		if err != nil || id != "" {
			t.Errorf("Send = %q, %v; want success with no id", id, err)
		}
	})

	bad := []struct {
		name string
		opts TwilioOptions
	}{
		{"no account", TwilioOptions{AuthToken: "t", From: "+1"}},
		{"no token", TwilioOptions{AccountSID: "AC", From: "+1"}},
		{"no sender", TwilioOptions{AccountSID: "AC", AuthToken: "t"}},
		{"not a URL", TwilioOptions{BaseURL: "ftp://x", AccountSID: "AC", AuthToken: "t", From: "+1"}},
		{"credentials in the URL", TwilioOptions{BaseURL: "https://u:p@api.twilio.com", AccountSID: "AC", AuthToken: "t", From: "+1"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewTwilio(tt.opts); err == nil {
				t.Error("NewTwilio accepted the options")
			}
		})
	}
}

// TestProviderErrors runs both HTTP providers against the answers that must end a message and
// those that must be retried.
func TestProviderErrors(t *testing.T) {
	tests := []struct {
		name      string
		answer    answer
		permanent bool
		contains  []string // in the error text
	}{
		{"400 invalid number", answer{status: 400, body: `{"code":21211,"message":"The 'To' number +96550000000 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`},
			true, []string{"HTTP 400", "code 21211", "is not a valid phone number", "(permanent)"}},
		{"401 bad credentials", answer{status: 401, body: `{"code":20003,"message":"Authenticate","status":401}`},
			true, []string{"HTTP 401", "code 20003", "Authenticate"}},
		{"404 without a body", answer{status: 404}, true, []string{"HTTP 404", "404 Not Found"}},
		{"408 is retried", answer{status: 408, body: "slow"}, false, []string{"HTTP 408", "slow"}},
		{"429 too many requests", answer{status: 429, body: `{"code":20429,"message":"Too Many Requests","status":429}`},
			false, []string{"HTTP 429", "code 20429", "Too Many Requests"}},
		{"500 with a text body", answer{status: 500, body: "internal\r\nerror\x00!"}, false, []string{"HTTP 500", "internal error !"}},
		{"503 unavailable", answer{status: 503, body: `{"error":"maintenance"}`}, false, []string{"HTTP 503", "maintenance"}},
		{"a redirect is not followed", answer{status: 302}, false, []string{"HTTP 302"}},
		{"a huge error body is cut", answer{status: 502, body: strings.Repeat("x", 100_000)}, false, []string{"HTTP 502", "…"}},
	}
	providers := []struct {
		name string
		make func(t *testing.T, srv *recorder) Sender
	}{
		{"twilio", func(t *testing.T, srv *recorder) Sender { return newTestTwilio(t, srv, TwilioOptions{}) }},
		{"webhook", func(t *testing.T, srv *recorder) Sender { return newTestWebhook(t, srv, time.Now) }},
	}
	for _, p := range providers {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				srv := newRecorder(t, tt.answer)
				id, err := p.make(t, srv).Send(t.Context(), testMessage())
				if err == nil {
					t.Fatalf("Send = %q, want an error", id)
				}
				if got := errors.Is(err, ErrPermanent); got != tt.permanent {
					t.Errorf("permanent = %v, want %v (%v)", got, tt.permanent, err)
				}
				var pe *ProviderError
				if !errors.As(err, &pe) || pe.Provider != p.name || pe.Status != tt.answer.status {
					t.Fatalf("error %v is not the %s ProviderError of HTTP %d", err, p.name, tt.answer.status)
				}
				for _, s := range tt.contains {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				if len(pe.Message) > maxErrorText+len("…") {
					t.Errorf("message of %d bytes", len(pe.Message))
				}
				if n := len(srv.requests()); n != 1 {
					t.Errorf("%d requests, want 1 (no redirect followed, no retry inside Send)", n)
				}
			})
		}
		t.Run(p.name+"/timeout is retried", func(t *testing.T) {
			srv := newRecorder(t, answer{block: true})
			var s Sender
			switch p.name {
			case "twilio":
				s = newTestTwilio(t, srv, TwilioOptions{Timeout: 50 * time.Millisecond})
			default:
				w, err := NewWebhook(WebhookOptions{URL: srv.srv.URL, Secret: testWebhookSecret, Timeout: 50 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				s = w
			}
			_, err := s.Send(t.Context(), testMessage())
			if err == nil || errors.Is(err, ErrPermanent) {
				t.Fatalf("Send: %v, want a temporary error", err)
			}
			var ne interface{ Timeout() bool }
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("error %v is not a timeout", err)
			}
		})
		t.Run(p.name+"/unreachable server is retried", func(t *testing.T) {
			srv := newRecorder(t, answer{status: 201})
			s := p.make(t, srv)
			srv.srv.Close()
			if _, err := s.Send(t.Context(), testMessage()); err == nil || errors.Is(err, ErrPermanent) {
				t.Fatalf("Send: %v, want a temporary error", err)
			}
		})
		t.Run(p.name+"/invalid messages are refused before any request", func(t *testing.T) {
			srv := newRecorder(t, answer{status: 201})
			s := p.make(t, srv)
			for _, m := range []Message{
				{To: "96550000000", Text: "x"},
				{To: "+0123456789", Text: "x"},
				{To: "+965 5000 0000", Text: "x"},
				{To: "+96550000000", Text: "  "},
				{To: "+96550000000", Text: strings.Repeat("x", MaxTextLen+1)},
				{To: "+96550000000", Text: "x", ID: "id\r\nX-Injected: 1"},
			} {
				if _, err := s.Send(t.Context(), m); !errors.Is(err, ErrPermanent) {
					t.Errorf("Send(%+v): %v, want a permanent error", m, err)
				}
			}
			if n := len(srv.requests()); n != 0 {
				t.Errorf("%d requests for invalid messages", n)
			}
		})
	}
}

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func newTestWebhook(t *testing.T, srv *recorder, now func() time.Time) *Webhook {
	t.Helper()
	w, err := NewWebhook(WebhookOptions{URL: srv.srv.URL + "/hooks/sms", Secret: testWebhookSecret, Now: now})
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	return w
}

// verifyStandardWebhook checks a request as a Standard Webhooks receiver would, with the secret
// alone.
func verifyStandardWebhook(t *testing.T, secret string, req recorded) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	id, ts := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp")
	if id == "" || ts == "" {
		t.Fatalf("webhook-id %q, webhook-timestamp %q", id, ts)
	}
	want := "v1," + SignWebhook(key, id, ts, req.Body)
	for _, sig := range strings.Fields(req.Header.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return
		}
	}
	t.Errorf("webhook-signature %q does not verify (want %q)", req.Header.Get("webhook-signature"), want)
}

func TestWebhookSend(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := newRecorder(t, answer{status: http.StatusAccepted, body: `{"id":"gw-77"}`})
	w := newTestWebhook(t, srv, func() time.Time { return now })
	ctx := requestid.NewContext(t.Context(), "req-webhook-1")

	id, err := w.Send(ctx, testMessage())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if id != "gw-77" {
		t.Errorf("provider id = %q, want the gateway's", id)
	}
	req := srv.only(t)
	if req.Method != http.MethodPost || req.Path != "/hooks/sms" {
		t.Errorf("request = %s %s", req.Method, req.Path)
	}
	if got := req.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := req.Header.Get(requestid.Header); got != "req-webhook-1" {
		t.Errorf("X-Request-ID = %q", got)
	}
	if got := req.Header.Get("webhook-id"); got != testMessage().ID {
		t.Errorf("webhook-id = %q, want the message id", got)
	}
	if got := req.Header.Get("webhook-timestamp"); got != strconv.FormatInt(now.Unix(), 10) {
		t.Errorf("webhook-timestamp = %q", got)
	}
	verifyStandardWebhook(t, testWebhookSecret, req)

	var body map[string]string
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"id": testMessage().ID, "to": "+96550000000", "text": testMessage().Text, "purpose": "login"}
	if len(body) != len(want) {
		t.Errorf("body = %v, want %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%q] = %q, want %q", k, body[k], v)
		}
	}

	t.Run("a tampered body does not verify", func(t *testing.T) {
		key, _ := WebhookKey(testWebhookSecret)
		forged := strings.Replace(string(req.Body), "482913", "000000", 1)
		if "v1,"+SignWebhook(key, req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), []byte(forged)) == req.Header.Get("webhook-signature") {
			t.Error("the signature does not cover the body")
		}
	})
}

func TestWebhookDefaults(t *testing.T) {
	t.Run("no message id: one is made, plain body answer", func(t *testing.T) {
		srv := newRecorder(t, answer{status: http.StatusOK, body: "ok"})
		w := newTestWebhook(t, srv, time.Now)
		m := testMessage()
		m.ID, m.Purpose = "", ""
		id, err := w.Send(t.Context(), m)
		if err != nil {
			t.Fatal(err)
		}
		req := srv.only(t)
		if id == "" || req.Header.Get("webhook-id") != id {
			t.Errorf("provider id %q, webhook-id %q: want the generated id in both", id, req.Header.Get("webhook-id"))
		}
		if strings.Contains(string(req.Body), "purpose") {
			t.Errorf("body %s has a purpose", req.Body)
		}
		verifyStandardWebhook(t, testWebhookSecret, req)
	})
	t.Run("a raw secret signs with its bytes", func(t *testing.T) {
		srv := newRecorder(t, answer{status: http.StatusNoContent})
		const raw = "a-raw-secret-of-some-length"
		w, err := NewWebhook(WebhookOptions{URL: srv.srv.URL, Secret: raw})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Send(t.Context(), testMessage()); err != nil {
			t.Fatal(err)
		}
		verifyStandardWebhook(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte(raw)), srv.only(t))
	})
	bad := []struct{ name, url, secret string }{
		{"no URL", "", testWebhookSecret},
		{"relative URL", "/sms", testWebhookSecret},
		{"no secret", "https://gw.example", ""},
		{"short secret", "https://gw.example", "short"},
		{"short whsec key", "https://gw.example", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))},
		{"whsec not base64", "https://gw.example", "whsec_***"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewWebhook(WebhookOptions{URL: tt.url, Secret: tt.secret}); err == nil {
				t.Error("NewWebhook accepted the options")
			}
		})
	}
}

func TestDevOutbox(t *testing.T) {
	outbox := mail.NewDevOutbox(10, slog.New(slog.DiscardHandler), func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) })
	s := NewDevOutbox(outbox)
	id, err := s.Send(context.Background(), testMessage())
	if err != nil {
		t.Fatal(err)
	}
	msgs := outbox.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the outbox", len(msgs))
	}
	m := msgs[0]
	if m.ID != id || m.Channel != mail.ChannelSMS || m.To != "+96550000000" || m.Text != testMessage().Text || m.Subject != "" {
		t.Errorf("outbox message = %+v (id %q)", m, id)
	}
	if _, err := s.Send(context.Background(), Message{To: "12", Text: "x"}); !errors.Is(err, ErrPermanent) {
		t.Errorf("invalid message: %v", err)
	}
	if n := len(outbox.Messages()); n != 1 {
		t.Errorf("the invalid message was kept (%d messages)", n)
	}
}
