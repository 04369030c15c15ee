package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Validate checks every setting and returns all problems at once (errors.Join), one per line, each
// starting with the key it is about, so that an operator can fix them in one go. Load calls it; call
// it again after changing a Config by hand.
func (c *Config) Validate() error {
	var errs []error
	for i := range keyTable {
		k := &keyTable[i]
		if k.check == nil {
			continue
		}
		if err := k.check(c); err != nil {
			errs = append(errs, &problem{key: c.label(k), err: err})
		}
	}
	return errors.Join(errs...)
}

// problem is one configuration error about one key.
type problem struct {
	key string // the variable (or file key) the operator has to change
	err error
}

func (p *problem) Error() string { return p.key + ": " + p.err.Error() }
func (p *problem) Unwrap() error { return p.err }

func checkOneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

func checkNotEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func checkNoSpace(v string) error {
	if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("must not contain spaces or control characters")
	}
	return nil
}

func checkRange[T int | int32 | int64](v, lo, hi T) error {
	if v < lo || v > hi {
		return fmt.Errorf("%d is out of range (%d to %d)", v, lo, hi)
	}
	return nil
}

func checkFloatBetween(v, lo, hi float64) error {
	if !(v >= lo && v <= hi) { // also refuses NaN
		return fmt.Errorf("%v is out of range (%v to %v)", v, lo, hi)
	}
	return nil
}

func checkDurationAbove(d, lo time.Duration) error {
	if d <= lo {
		return fmt.Errorf("%s is out of range (more than %s)", formatDuration(d), formatDuration(lo))
	}
	return nil
}

func checkDurationAtLeast(d, lo time.Duration) error {
	if d < lo {
		return fmt.Errorf("%s is out of range (at least %s)", formatDuration(d), formatDuration(lo))
	}
	return nil
}

func checkDurationBetween(d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return fmt.Errorf("%s is out of range (%s to %s)", formatDuration(d), formatDuration(lo), formatDuration(hi))
	}
	return nil
}

func checkListenAddr(addr string) error {
	bad := fmt.Errorf("%q is not host:port like :8080 or 127.0.0.1:8080", addr)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
		return bad
	}
	return nil
}

func checkPrefixes(ps []netip.Prefix) error {
	for _, p := range ps {
		if !p.IsValid() {
			return fmt.Errorf("%q is not a valid CIDR", p.String())
		}
	}
	return nil
}

func checkCORSOrigins(c *Config) error {
	for _, o := range c.HTTP.CORSOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			return err
		}
		if o == "*" && c.Production() {
			return errors.New(`"*" (any origin) is not allowed in production; list the allowed origins`)
		}
	}
	return nil
}

func checkBothOrNeither(this, other, otherName string) error {
	if this == "" && other != "" {
		return fmt.Errorf("required when %s is set (set both or neither)", otherName)
	}
	return nil
}

// checkPublicURL accepts an absolute http(s) URL without credentials, query or fragment; production
// requires https unless the host is the local machine.
func checkPublicURL(c *Config) error { return checkBaseURL(c, c.PublicURL, "https://auth.example.com") }

// checkBaseURL checks a base URL of links: absolute, http(s), without user, query or fragment, and
// https in production unless the host is local.
func checkBaseURL(c *Config, v, example string) error {
	bad := fmt.Errorf("%q is not an absolute http:// or https:// URL without query, like %s", v, example)
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return bad
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if c.Production() && !isLocalHost(u.Hostname()) {
			return fmt.Errorf("%q must use https:// in production (plain http is accepted only for localhost)", v)
		}
	default:
		return bad
	}
	return nil
}

func isLocalHost(host string) bool {
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// URL checks for secret settings: their messages never quote the value, which may hold a password.

func checkDatabaseURL(v string) error {
	if v == "" {
		return nil
	}
	const use = "use postgres://, postgresql:// or sqlite://path, or leave empty"
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return fmt.Errorf("not a URL (%s)", use)
	}
	switch strings.ToLower(scheme) {
	case "sqlite":
		if rest == "" || strings.ContainsAny(rest, "?#") {
			return errors.New("sqlite:// needs a file path without query, like sqlite://data/gatehouse.db or sqlite:///var/lib/gatehouse/gatehouse.db")
		}
	case "postgres", "postgresql":
		if _, err := url.Parse(v); err != nil {
			return errNotURL
		}
	default:
		return fmt.Errorf("scheme %q is not supported (%s)", scheme, use)
	}
	return nil
}

func checkRedisURL(v string) error {
	if v == "" {
		return nil
	}
	const use = "use redis://, rediss://, redis-sentinel:// or redis-cluster://, or leave empty"
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return fmt.Errorf("not a URL (%s)", use)
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "redis-sentinel", "redis-cluster":
	default:
		return fmt.Errorf("scheme %q is not supported (%s)", scheme, use)
	}
	hosts := rest
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		hosts = hosts[at+1:]
	}
	if end := strings.IndexAny(hosts, "/?#"); end >= 0 {
		hosts = hosts[:end]
	}
	if hosts == "" {
		return errors.New("has no host (like redis://host:6379/0)")
	}
	return nil
}

func checkSMTPURL(c *Config) error {
	v := c.SMTP.URL
	if v == "" {
		if c.Production() {
			return errors.New("required in production (the dev outbox is for development only)")
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return errNotURL
	}
	switch strings.ToLower(u.Scheme) {
	case "smtp", "smtps":
	default:
		return fmt.Errorf("scheme %q is not supported (use smtp:// for STARTTLS or smtps:// for TLS)", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("has no host (like smtp://user:pass@smtp.example.com:587)")
	}
	return nil
}

func checkSentryDSN(v string) error {
	if v == "" {
		return nil
	}
	bad := errors.New("not a Sentry DSN like https://key@o0.ingest.sentry.io/123")
	u, err := url.Parse(v)
	if err != nil {
		return bad
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Hostname() == "" || u.User == nil || u.User.Username() == "" ||
		strings.Trim(u.Path, "/") == "" {
		return bad
	}
	return nil
}

func checkMailAddress(v string) error {
	if _, err := mail.ParseAddress(v); err != nil {
		return fmt.Errorf("%q is not a mail address like \"Example <no-reply@example.com>\"", v)
	}
	return nil
}

// errNotURL reports a secret URL that does not parse, without the parser's message, which quotes
// parts of the URL.
var errNotURL = errors.New("not a valid URL (percent-encode special characters in the user name and password, e.g. %40 for @)")

// checkSecretKey: production needs a real master secret; any value given must decode to at least 32
// bytes. (The value is never quoted: it is a secret.)
func checkSecretKey(c *Config) error {
	if c.SecretKey == "" {
		if c.Production() {
			return errors.New("required in production (generate one with `openssl rand -base64 32`)")
		}
		return nil
	}
	if _, err := DecodeSecretKey(c.SecretKey); err != nil {
		return err
	}
	return nil
}

// DecodeSecretKey decodes GATEHOUSE_SECRET_KEY: standard or URL-safe base64, padded or not, of at
// least 32 bytes.
func DecodeSecretKey(v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			if len(b) < 32 {
				return nil, fmt.Errorf("decodes to %d bytes; at least 32 are needed", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64")
}

// checkCountry accepts an ISO 3166-1 alpha-2 code (shape only) or empty.
func checkCountry(v string) error {
	if v == "" {
		return nil
	}
	if len(v) != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z' {
		return fmt.Errorf("%q is not a two-letter country code", v)
	}
	return nil
}

func checkCountries(list []string) error {
	for _, v := range list {
		if err := checkCountry(v); err != nil {
			return err
		}
	}
	return nil
}

// requiredFor: a setting the chosen SMS provider needs.
func requiredFor(c *Config, provider, v string) error {
	if c.SMSProvider() == provider && v == "" {
		return fmt.Errorf("required with GATEHOUSE_SMS_PROVIDER=%s", provider)
	}
	return nil
}
