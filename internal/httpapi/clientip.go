package httpapi

import (
	"net/http"
	"net/netip"
	"strings"
)

// proxies decides which forwarding headers to believe: only those added by a configured trusted
// proxy. Anyone can send X-Forwarded-For; believing it from an untrusted peer would let a client
// choose the address that rate limits, audit records and lockouts see.
type proxies []netip.Prefix

func (p proxies) trusted(a netip.Addr) bool {
	for _, pfx := range p {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// client returns the client's address and whether the client reached us over TLS.
//
// When the TCP peer is a trusted proxy, the address is the rightmost hop of Forwarded (RFC 7239) or,
// without it, X-Forwarded-For that is not itself a trusted proxy: hops to its left were written by
// parties we cannot vouch for. A malformed hop ends the walk at the last trusted one. TLS is taken
// from the proxy's Forwarded proto= or X-Forwarded-Proto (the leftmost value, which the
// client-facing proxy wrote).
func (p proxies) client(r *http.Request) (netip.Addr, bool) {
	peer := parseHop(r.RemoteAddr)
	secure := r.TLS != nil
	if !peer.IsValid() || len(p) == 0 || !p.trusted(peer) {
		return peer, secure
	}
	var hops []string
	proto := ""
	if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		hops, proto = parseForwarded(fwd)
	} else {
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
		if v := r.Header.Get("X-Forwarded-Proto"); v != "" {
			proto, _, _ = strings.Cut(v, ",")
		}
	}
	if strings.EqualFold(strings.TrimSpace(proto), "https") {
		secure = true
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseHop(hops[i])
		if !a.IsValid() {
			break
		}
		client = a
		if !p.trusted(a) {
			break
		}
	}
	return client, secure
}

// parseHop parses one address as forwarding headers and RemoteAddr write it: "192.0.2.1",
// "192.0.2.1:4711", "2001:db8::1", "[2001:db8::1]:4711", optionally quoted. "unknown" and obfuscated
// identifiers give the zero Addr.
func parseHop(s string) netip.Addr {
	s = strings.TrimSpace(s)
	s = strings.Trim(s, `"`)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone("")
		}
	}
	return netip.Addr{}
}

// parseForwarded returns the for= value of every element of the Forwarded header lines, in order,
// and the first proto= value.
func parseForwarded(lines []string) (hops []string, proto string) {
	for _, line := range lines {
		for _, elem := range splitQuoted(line, ',') {
			found := false
			for _, pair := range splitQuoted(elem, ';') {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok {
					continue
				}
				v = unquote(strings.TrimSpace(v))
				switch strings.ToLower(strings.TrimSpace(k)) {
				case "for":
					if !found {
						hops = append(hops, v)
						found = true
					}
				case "proto":
					if proto == "" {
						proto = v
					}
				}
			}
			if !found {
				// An element without for= is a hop we cannot identify: keep its place so that the
				// walk stops there rather than skipping it.
				hops = append(hops, "")
			}
		}
	}
	return hops, proto
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	inQuote, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && inQuote:
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case c == sep && !inQuote:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote removes the quotes and backslash escapes of an RFC 7230 quoted-string.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
