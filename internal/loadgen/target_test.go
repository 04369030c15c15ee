package loadgen

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCheckTarget(t *testing.T) {
	tests := []struct {
		url         string
		allowRemote bool
		wantErr     string // empty: accepted
	}{
		{"http://127.0.0.1:8080", false, ""},
		{"http://127.5.6.7", false, ""},
		{"https://127.0.0.1/prefix", false, ""},
		{"http://[::1]:8080", false, ""},
		{"http://[::ffff:127.0.0.1]:8080", false, ""},
		{"http://localhost:8080", false, ""},
		{"http://LOCALHOST.", false, ""},
		{"http://example.com", false, "not a loopback address"},
		{"http://10.0.0.1:8080", false, "not a loopback address"},
		{"http://0.0.0.0:8080", false, "not a loopback address"},
		{"http://[::]:8080", false, "not a loopback address"},
		{"http://127.0.0.1.nip.io", false, "not a loopback address"},
		{"http://localhost.example.com", false, "not a loopback address"},
		{"http://[fe80::1%25lo]:80", false, "not a loopback address"},
		{"ftp://127.0.0.1", false, "scheme must be http or https"},
		{"//127.0.0.1:8080", false, "scheme must be http or https"},
		{"http://", false, "no host"},
		{"http://user:secret@127.0.0.1", false, "credentials"},
		{"http://example.com", true, ""},
		{"http://10.0.0.1:8080", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckTarget(u, tt.allowRemote)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckTarget(%s, %v) = %v, want accepted", tt.url, tt.allowRemote, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("CheckTarget(%s, %v) = %v, want an error containing %q", tt.url, tt.allowRemote, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	if err := CheckTarget(nil, true); err == nil {
		t.Error("CheckTarget(nil) accepted")
	}
}

func TestNewClientReusesConnections(t *testing.T) {
	c := NewClient(64, 3*time.Second)
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", c.Transport)
	}
	if tr.MaxIdleConnsPerHost != 64 || tr.MaxIdleConns != 64 {
		t.Errorf("idle connections per host, total = %d, %d; want 64, 64", tr.MaxIdleConnsPerHost, tr.MaxIdleConns)
	}
	if tr.Proxy != nil {
		t.Error("the client would use a proxy")
	}
	if c.Timeout != 3*time.Second {
		t.Errorf("timeout = %s, want 3s", c.Timeout)
	}
	if c.CheckRedirect == nil || c.CheckRedirect(nil, nil) != http.ErrUseLastResponse {
		t.Error("the client would follow redirects")
	}
}
