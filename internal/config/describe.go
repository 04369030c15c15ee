package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// mask replaces a password in a URL, like url.URL.Redacted.
const mask = "xxxxx"

// redacted replaces a whole secret value.
const redacted = "[redacted]"

// redactURL masks the password of a URL (postgres://user:xxxxx@host/db) and the values of query
// parameters that look like credentials (password, sslpassword, token, secret, key). With maskUser
// the whole user information is masked (a Sentry DSN's key). It does not rely on url.Parse, which
// refuses some URLs drivers accept (Sentinel host lists): everything before the last "@" is treated
// as user information, so that an unencoded "@" or "/" in a password cannot leak the rest of it.
// A value without "://" is redacted entirely.
func redactURL(v string, maskUser bool) string {
	if v == "" {
		return ""
	}
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok || !validScheme(scheme) {
		return redacted
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo, hosts := rest[:at], rest[at+1:]
		user, _, hasPassword := strings.Cut(userinfo, ":")
		switch {
		case maskUser:
			userinfo = mask
		case hasPassword:
			userinfo = user + ":" + mask
		}
		rest = userinfo + "@" + hosts
	}
	start := strings.LastIndex(rest, "@") + 1
	if q := strings.Index(rest[start:], "?"); q >= 0 {
		q += start
		rest = rest[:q+1] + redactQuery(rest[q+1:])
	}
	return scheme + "://" + rest
}

// validScheme reports whether s is a URL scheme (RFC 3986: a letter, then letters, digits, +, -, .).
func validScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !('0' <= c && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// redactQuery masks the values of credential-like parameters in a raw query.
func redactQuery(q string) string {
	frag := ""
	if i := strings.Index(q, "#"); i >= 0 {
		q, frag = q[:i], q[i:]
	}
	params := strings.Split(q, "&")
	for i, p := range params {
		name, _, hasValue := strings.Cut(p, "=")
		if hasValue && credentialParam(name) {
			params[i] = name + "=" + mask
		}
	}
	return strings.Join(params, "&") + frag
}

func credentialParam(name string) bool {
	name = strings.ToLower(name)
	for _, s := range []string{"pass", "pwd", "secret", "token", "key", "auth", "credential"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// redactToken hides a token entirely.
func redactToken(v string) string {
	if v == "" {
		return ""
	}
	return redacted
}

// Redacted returns a copy of c whose secrets are masked (passwords in URLs, tokens, the Sentry DSN),
// safe to print or log.
func (c *Config) Redacted() *Config {
	r := *c
	r.HTTP.TrustedProxies = slices.Clone(c.HTTP.TrustedProxies)
	r.HTTP.CORSOrigins = slices.Clone(c.HTTP.CORSOrigins)
	r.warnings = slices.Clone(c.warnings)
	for i := range keyTable {
		k := &keyTable[i]
		if k.secret {
			// Secret keys are plain strings: set never fails for them.
			_ = k.set(&r, k.redact(k.get(c)))
		}
	}
	return &r
}

// Describe lists every setting as VARIABLE=value, secrets masked, each followed by where the value
// came from when c was loaded by Load: "(default)", "(default for production)", "(environment)",
// "(DATABASE_URL)", "(GATEHOUSE_SMTP_URL_FILE)", "(.env)", "(http.addr in gatehouse.yaml)".
// gatehouse doctor prints it.
func (c *Config) Describe() []string {
	lines := make([]string, 0, len(keyTable))
	for i := range keyTable {
		k := &keyTable[i]
		v := k.get(c)
		if k.secret {
			v = k.redact(v)
		}
		if v == "" || strings.ContainsAny(v, " \t\"'#") {
			v = strconv.Quote(v)
		}
		line := k.env + "=" + v
		if c.sources != nil {
			line += " (" + c.sources[k.env].describe(k) + ")"
		}
		lines = append(lines, line)
	}
	return lines
}

// source is where a key's value came from.
type source struct {
	kind sourceKind
	name string // the variable or file key that held the value
	path string // the .env or config file
}

type sourceKind int

const (
	fromDefault sourceKind = iota
	fromProductionDefault
	fromFile
	fromDotenv
	fromEnv
)

func (s source) describe(k *key) string {
	switch s.kind {
	case fromProductionDefault:
		return "default for production"
	case fromFile, fromDotenv:
		return fmt.Sprintf("%s in %s", s.name, s.path)
	case fromEnv:
		if s.name == k.env {
			return "environment"
		}
		return "environment " + s.name
	}
	return "default"
}

// label is how messages name k: the variable (or file key) the operator has to change to fix it.
func (c *Config) label(k *key) string {
	s, ok := c.sources[k.env]
	if !ok {
		return k.env
	}
	switch s.kind {
	case fromEnv:
		return s.name
	case fromDotenv:
		return s.name + " in " + s.path
	case fromFile:
		return fmt.Sprintf("%s (%s in %s)", k.env, s.name, s.path)
	}
	return k.env
}
