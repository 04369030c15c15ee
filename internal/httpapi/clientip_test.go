package httpapi

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name       string
		proxies    proxies
		remote     string
		headers    map[string][]string
		tls        bool
		wantIP     string
		wantSecure bool
	}{
		{name: "no proxies configured: peer", remote: "203.0.113.7:5000",
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, wantIP: "203.0.113.7"},
		{name: "untrusted peer: forwarding headers ignored", proxies: trusted, remote: "203.0.113.7:5000",
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.1"}, "X-Forwarded-Proto": {"https"}}, wantIP: "203.0.113.7"},
		{name: "trusted peer, one hop", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, wantIP: "198.51.100.1"},
		{name: "trusted peer, no header: peer", proxies: trusted, remote: "10.0.0.2:5000", wantIP: "10.0.0.2"},
		{name: "rightmost untrusted hop wins over a spoofed left one", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"1.1.1.1, 198.51.100.1, 10.0.0.9"}}, wantIP: "198.51.100.1"},
		{name: "several header lines", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"1.1.1.1", "198.51.100.1"}}, wantIP: "198.51.100.1"},
		{name: "all hops trusted: leftmost", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"10.1.1.1, 10.0.0.9"}}, wantIP: "10.1.1.1"},
		{name: "malformed hop stops at the last trusted one", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.1, garbage, 10.0.0.9"}}, wantIP: "10.0.0.9"},
		{name: "hop with a port", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.1:4711"}}, wantIP: "198.51.100.1"},
		{name: "IPv6 hop and peer", proxies: trusted, remote: "[fd00::2]:5000",
			headers: map[string][]string{"X-Forwarded-For": {"2001:db8::1"}}, wantIP: "2001:db8::1"},
		{name: "IPv4-mapped peer is trusted as IPv4", proxies: trusted, remote: "[::ffff:10.0.0.2]:5000",
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}, wantIP: "198.51.100.1"},
		{name: "Forwarded (RFC 7239)", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"Forwarded": {`for=198.51.100.1;proto=https, for="[2001:db8::17]:4711"`}}, wantIP: "2001:db8::17", wantSecure: true},
		{name: "Forwarded rightmost untrusted", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"Forwarded": {`for=1.1.1.1, for=198.51.100.1, for=10.0.0.3;by=10.0.0.2`}}, wantIP: "198.51.100.1"},
		{name: "Forwarded unknown hop stops the walk", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"Forwarded": {`for=198.51.100.1, for=unknown`}}, wantIP: "10.0.0.2"},
		{name: "Forwarded wins over X-Forwarded-For", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"Forwarded": {`for=198.51.100.1`}, "X-Forwarded-For": {"1.1.1.1"}}, wantIP: "198.51.100.1"},
		{name: "X-Forwarded-Proto https from a trusted proxy", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.1"}, "X-Forwarded-Proto": {"https"}}, wantIP: "198.51.100.1", wantSecure: true},
		{name: "X-Forwarded-Proto http", proxies: trusted, remote: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-Proto": {"http"}}, wantIP: "10.0.0.2"},
		{name: "direct TLS", remote: "203.0.113.7:5000", tls: true, wantIP: "203.0.113.7", wantSecure: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for k, vs := range tt.headers {
				r.Header[k] = vs
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			ip, secure := tt.proxies.client(r)
			if ip.String() != tt.wantIP || secure != tt.wantSecure {
				t.Errorf("client() = %s, %v; want %s, %v", ip, secure, tt.wantIP, tt.wantSecure)
			}
		})
	}
}

func TestParseForwarded(t *testing.T) {
	hops, proto := parseForwarded([]string{`For="[2001:db8:cafe::17]:4711";Proto=HTTPS;by=x, for=192.0.2.60;proto=http`, `for="quoted\"x"`})
	want := []string{"[2001:db8:cafe::17]:4711", "192.0.2.60", `quoted"x`}
	if len(hops) != len(want) {
		t.Fatalf("hops %q, want %q", hops, want)
	}
	for i := range want {
		if hops[i] != want[i] {
			t.Errorf("hop %d = %q, want %q", i, hops[i], want[i])
		}
	}
	if proto != "HTTPS" {
		t.Errorf("proto %q, want HTTPS", proto)
	}
}
