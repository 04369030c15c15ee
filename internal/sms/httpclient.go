package sms

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse/gatehouse/internal/requestid"
)

// DefaultTimeout bounds one HTTP call to a provider (connect, request and answer) when the
// options leave it zero. A timeout is a temporary failure: the job is retried.
const DefaultTimeout = 10 * time.Second

// maxResponseBody bounds what is read of a provider's answer.
const maxResponseBody = 64 << 10

// maxErrorText bounds the provider's error text kept in a ProviderError.
const maxErrorText = 300

// userAgent names gatehouse to the providers.
const userAgent = "gatehouse-sms/1"

// newHTTPClient returns the client of an HTTP provider: bounded by timeout, forwarding the request
// id of the context (requestid.Transport over base, http.DefaultTransport when nil), and not
// following redirects: a POST answered with a redirect is a misconfigured URL, reported as the
// 3xx it is rather than silently turned into a GET.
func newHTTPClient(base http.RoundTripper, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Transport: &requestid.Transport{Base: base},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// checkBaseURL validates a configured http(s) URL.
func checkBaseURL(name, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", name, raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%s %q: want an http(s) URL with a host", name, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: credentials in the URL are not accepted; use the options", name)
	}
	return u, nil
}

// readBody reads at most maxResponseBody bytes of an answer and drains the rest, so that the
// connection can be reused.
func readBody(resp *http.Response) []byte {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	return b
}

// flexString decodes a JSON string or number as text (error codes come as either).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("neither a string nor a number")
	}
	*f = flexString(n.String())
	return nil
}

// errorText makes a provider's text safe and short for a log line: control characters become
// spaces, runs of spaces shrink to one, and it is cut to maxErrorText bytes.
func errorText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// providerError builds the error of a non-2xx answer: code and message from the provider's JSON
// when it sent one, otherwise the start of the body.
func providerError(provider string, resp *http.Response, body []byte) *ProviderError {
	var answer struct {
		Code    flexString `json:"code"`
		Message string     `json:"message"`
		Error   string     `json:"error"`
	}
	e := &ProviderError{Provider: provider, Status: resp.StatusCode, Permanent: permanentStatus(resp.StatusCode)}
	if json.Unmarshal(body, &answer) == nil {
		e.Code = errorText(string(answer.Code))
		e.Message = errorText(cmp.Or(answer.Message, answer.Error))
	}
	if e.Code == "" && e.Message == "" {
		e.Message = errorText(string(body))
	}
	if e.Message == "" {
		e.Message = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)
	}
	return e
}
