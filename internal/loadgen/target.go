package loadgen

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds each request when Options.Client is nil.
const DefaultTimeout = 10 * time.Second

// CheckTarget accepts an http or https base URL and, unless allowRemote, only on loopback: a literal
// address in 127.0.0.0/8 or ::1, or the name localhost. Load aimed elsewhere is an attack on someone
// else's service unless its owner asked for it, hence the explicit opt-in.
func CheckTarget(u *url.URL, allowRemote bool) error {
	if u == nil {
		return errors.New("no target URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: scheme must be http or https", u.Redacted())
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("target %q: no host", u.Redacted())
	}
	if u.User != nil {
		return fmt.Errorf("target %q: credentials in the URL are not supported", u.Redacted())
	}
	if allowRemote || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("target %q is not a loopback address (127.0.0.0/8, ::1, localhost); "+
		"pass -allow-remote only for a server you are entitled to load", u.Redacted())
}

func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.Zone() != "" {
		return false
	}
	return addr.Unmap().IsLoopback()
}

// NewClient returns a client for a run with conns workers: it keeps up to conns idle connections to
// the target so that they are reused rather than redialled, never uses a proxy, never follows
// redirects (a workload expects the status the server sends), and gives each request timeout.
func NewClient(conns int, timeout time.Duration) *http.Client {
	transport := &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func (o *Options) validate() error {
	switch {
	case o.Workload.Name == "" || o.Workload.Setup == nil:
		return errors.New("no workload")
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrency:
		return fmt.Errorf("concurrency %d: must be between 1 and %d", o.Concurrency, MaxConcurrency)
	case math.IsNaN(o.Rate) || o.Rate < 0 || o.Rate > MaxRate:
		return fmt.Errorf("rate %g: must be between 0 (closed loop) and %d per second", o.Rate, MaxRate)
	case o.Duration <= 0 || o.Duration > MaxDuration:
		return fmt.Errorf("duration %s: must be positive and at most %s", o.Duration, MaxDuration)
	case o.Warmup < 0 || o.Warmup > MaxDuration:
		return fmt.Errorf("warm-up %s: must be between 0 and %s", o.Warmup, MaxDuration)
	}
	return CheckTarget(o.BaseURL, o.AllowRemote)
}
