package sms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Standard Webhooks headers (https://www.standardwebhooks.com).
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// webhookSecretPrefix marks a Standard Webhooks secret: the key, base64-encoded, after "whsec_".
const webhookSecretPrefix = "whsec_"

// MinWebhookKeyLen is the shortest signing key accepted, in bytes (after decoding a whsec_ secret).
const MinWebhookKeyLen = 16

// WebhookOptions configures a webhook sender.
type WebhookOptions struct {
	// URL receives the messages. Required; http(s).
	URL string
	// Secret signs each request. Either a Standard Webhooks secret ("whsec_" and the base64 key,
	// as the receivers' libraries expect) or any other string, whose bytes are then the key. At
	// least MinWebhookKeyLen bytes of key. Required.
	Secret string
	// Timeout bounds one call; zero: DefaultTimeout.
	Timeout time.Duration
	// Transport sends the requests, under the request-id transport; nil: http.DefaultTransport.
	Transport http.RoundTripper
	// Now dates the signatures; nil: time.Now.
	Now func() time.Time
}

// Webhook sends text messages to any gateway as a signed JSON POST, following the Standard
// Webhooks scheme so that the receiver can verify them with an off-the-shelf library:
//
//	POST {URL}
//	Content-Type: application/json
//	webhook-id: <Message.ID>
//	webhook-timestamp: <Unix seconds>
//	webhook-signature: v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>
//
//	{"id":"<Message.ID>","to":"+96550000000","text":"…","purpose":"login"}
//
// The id is the same on every retry of one message, so the receiver can drop duplicates; the
// timestamp lets it refuse replays. Any 2xx answer means sent; its JSON "id", when there is one,
// is returned as the provider id (the message id otherwise). Other answers become a *ProviderError
// (the body's "code" and "message" or "error" when it is JSON): permanent for every 4xx but 408
// and 429, temporary otherwise.
type Webhook struct {
	url    string
	key    []byte
	now    func() time.Time
	client *http.Client
}

var _ Sender = (*Webhook)(nil)

// NewWebhook returns a webhook sender. It fails when the URL is not http(s) or the secret is
// missing, too short, or a malformed whsec_ secret.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	u, err := checkBaseURL("sms webhook URL", opts.URL)
	if err != nil {
		return nil, err
	}
	key, err := WebhookKey(opts.Secret)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Webhook{url: u.String(), key: key, now: opts.Now, client: newHTTPClient(opts.Transport, opts.Timeout)}, nil
}

// WebhookKey returns the signing key of a secret: the decoded key of a "whsec_" secret, the bytes
// of any other.
func WebhookKey(secret string) ([]byte, error) {
	var key []byte
	if rest, ok := strings.CutPrefix(secret, webhookSecretPrefix); ok {
		var err error
		if key, err = base64.StdEncoding.DecodeString(rest); err != nil {
			return nil, errors.New("sms webhook secret: the part after whsec_ is not standard base64")
		}
	} else {
		key = []byte(secret)
	}
	if len(key) < MinWebhookKeyLen {
		return nil, fmt.Errorf("sms webhook secret: want a key of at least %d bytes", MinWebhookKeyLen)
	}
	return key, nil
}

// webhookPayload is the JSON body of a request.
type webhookPayload struct {
	ID      string `json:"id"`
	To      string `json:"to"`
	Text    string `json:"text"`
	Purpose string `json:"purpose,omitempty"`
}

// Send posts m to the webhook.
func (w *Webhook) Send(ctx context.Context, m Message) (string, error) {
	if err := checkMessage(m); err != nil {
		return "", fmt.Errorf("send sms via webhook: %w", err)
	}
	id := m.ID
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return "", fmt.Errorf("send sms via webhook: message id: %w", err)
		}
		id = u.String()
	}
	body, err := json.Marshal(webhookPayload{ID: id, To: m.To, Text: m.Text, Purpose: m.Purpose})
	if err != nil {
		return "", fmt.Errorf("send sms via webhook: %w", err)
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("send sms via webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderWebhookID, id)
	req.Header.Set(HeaderWebhookTimestamp, ts)
	req.Header.Set(HeaderWebhookSignature, "v1,"+SignWebhook(w.key, id, ts, body))

	resp, err := w.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("send sms via webhook: %w", err)
	}
	defer resp.Body.Close()
	answer := readBody(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("send sms via webhook: %w", providerError("webhook", resp, answer))
	}
	var ok struct {
		ID flexString `json:"id"`
	}
	if json.Unmarshal(answer, &ok) == nil && ok.ID != "" {
		return errorText(string(ok.ID)), nil
	}
	return id, nil
}

// SignWebhook returns the base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" under key: the part of a
// Standard Webhooks signature after "v1,". Receivers compute the same to verify a request.
func SignWebhook(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
