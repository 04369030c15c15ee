package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTwilioBaseURL is Twilio's API.
const DefaultTwilioBaseURL = "https://api.twilio.com"

// TwilioOptions configures a Twilio sender (or a Twilio-compatible API).
type TwilioOptions struct {
	// BaseURL is the API's root; "": DefaultTwilioBaseURL. Tests point it at a local server.
	BaseURL string
	// AccountSID names the account (the path's Accounts/{AccountSID}). Required.
	AccountSID string
	// AuthToken authenticates the calls: the account's auth token, or the secret of the API key
	// named by APIKeySID. Required.
	AuthToken string
	// APIKeySID, when set, is the basic-auth user instead of AccountSID (Twilio's API keys, which
	// can be revoked one by one).
	APIKeySID string
	// From is the sending number (E.164) or alphanumeric sender id. One of From and
	// MessagingServiceSID is required; when both are set, MessagingServiceSID is sent alone.
	From string
	// MessagingServiceSID sends through a Messaging Service, which picks the sender.
	MessagingServiceSID string
	// Timeout bounds one call; zero: DefaultTimeout.
	Timeout time.Duration
	// Transport sends the requests, under the request-id transport; nil: http.DefaultTransport.
	Transport http.RoundTripper
}

// Twilio sends text messages with Twilio's Messages API: POST
// {BaseURL}/2010-04-01/Accounts/{AccountSID}/Messages.json with the form fields To, From (or
// MessagingServiceSid) and Body, authenticated with HTTP basic auth. It returns the message's
// "sid". A refusal becomes a *ProviderError carrying Twilio's code and message (for the log, never
// for clients): permanent for every 4xx but 408 and 429, temporary otherwise.
type Twilio struct {
	endpoint string
	user     string
	password string
	from     string
	service  string
	client   *http.Client
}

var _ Sender = (*Twilio)(nil)

// NewTwilio returns a Twilio sender. It fails when a required option is missing or BaseURL is not
// an http(s) URL.
func NewTwilio(opts TwilioOptions) (*Twilio, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultTwilioBaseURL
	}
	base, err := checkBaseURL("twilio base URL", opts.BaseURL)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.AccountSID == "":
		return nil, errors.New("twilio: the account SID is required")
	case opts.AuthToken == "":
		return nil, errors.New("twilio: the auth token is required")
	case opts.From == "" && opts.MessagingServiceSID == "":
		return nil, errors.New("twilio: a From number or a messaging service SID is required")
	}
	user := opts.AccountSID
	if opts.APIKeySID != "" {
		user = opts.APIKeySID
	}
	return &Twilio{
		endpoint: strings.TrimRight(base.String(), "/") + "/2010-04-01/Accounts/" + url.PathEscape(opts.AccountSID) + "/Messages.json",
		user:     user,
		password: opts.AuthToken,
		from:     opts.From,
		service:  opts.MessagingServiceSID,
		client:   newHTTPClient(opts.Transport, opts.Timeout),
	}, nil
}

// Send posts m to Twilio. A 2xx answer is a success even if its body cannot be read (the message
// is on its way; reporting a failure would send it twice), with an empty provider id then.
func (t *Twilio) Send(ctx context.Context, m Message) (string, error) {
	if err := checkMessage(m); err != nil {
		return "", fmt.Errorf("send sms via twilio: %w", err)
	}
	form := url.Values{"To": {m.To}, "Body": {m.Text}}
	if t.service != "" {
		form.Set("MessagingServiceSid", t.service)
	} else {
		form.Set("From", t.from)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("send sms via twilio: %w", err)
	}
	req.SetBasicAuth(t.user, t.password)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	resp, err := t.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("send sms via twilio: %w", err)
	}
	defer resp.Body.Close()
	body := readBody(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("send sms via twilio: %w", providerError("twilio", resp, body))
	}
	var answer struct {
		SID string `json:"sid"`
	}
	_ = json.Unmarshal(body, &answer)
	return answer.SID, nil
}
