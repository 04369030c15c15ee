package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The parsers turn one text value (an environment variable, a line of a .env file, a scalar of a
// config file) into a typed value. Their errors quote the offending value; the caller prefixes
// the key. Values of secret keys never reach a parser that quotes them.

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "t", "true", "yes", "y", "on":
		return true, nil
	case "0", "f", "false", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true or false)", v)
}

// parseDuration accepts Go durations ("300ms", "20s", "1h30m"). A bare number other than 0 is
// refused: "30" could mean seconds or milliseconds.
func parseDuration(v, example string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like %s", v, example)
	}
	return d, nil
}

// formatDuration prints d in the shortest form parseDuration reads back: 1h rather than 1h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func parseInt[T int | int32 | int64](v string) (T, error) {
	var zero T
	bits := 64
	switch any(zero).(type) {
	case int32:
		bits = 32
	case int:
		bits = strconv.IntSize
	}
	n, err := strconv.ParseInt(v, 10, bits)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is too large", v)
		}
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	return T(n), nil
}

func parseFloat(v string) (float64, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	return x, nil
}

// splitList splits a comma-separated list, trimming spaces and dropping empty items.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parsePrefixes reads a comma-separated list of CIDRs or plain IPs. A plain IP becomes a /32 or /128
// prefix; an IPv4-mapped IPv6 address becomes IPv4; host bits of a CIDR are cleared
// (10.1.2.3/8 is 10.0.0.0/8).
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range splitList(v) {
		p, err := parsePrefix(item)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	bad := fmt.Errorf("%q is not an IP address or CIDR like 10.0.0.0/8 or 192.0.2.7", s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, bad
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, bad
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func formatPrefixes(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// parseOrigins reads a comma-separated list of CORS origins, normalised to lower case.
func parseOrigins(v string) ([]string, error) {
	var out []string
	for _, item := range splitList(v) {
		o, err := normalizeOrigin(item)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// normalizeOrigin checks that s is "*" or an origin as browsers send it in the Origin header
// (scheme://host[:port], nothing else) and returns it in lower case. One leading "*." in the host
// stands for any subdomain.
func normalizeOrigin(s string) (string, error) {
	if s == "*" {
		return s, nil
	}
	bad := fmt.Errorf("%q is not an origin like https://app.example.com (scheme://host[:port], no path)", s)
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(u.Host, ":") {
		return "", bad
	}
	host := u.Hostname()
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		host = rest
	}
	if host == "" || strings.Contains(host, "*") {
		return "", bad
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", bad
		}
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func trimTrailingSlash(v string) string {
	if strings.HasSuffix(v, "/") && strings.Contains(v, "://") {
		scheme, rest, _ := strings.Cut(v, "://")
		rest = strings.TrimRight(rest, "/")
		return scheme + "://" + rest
	}
	return v
}

// sqlitePath returns the path of a sqlite:// URL.
func sqlitePath(u string) (string, bool) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || !strings.EqualFold(scheme, "sqlite") {
		return "", false
	}
	return rest, true
}
