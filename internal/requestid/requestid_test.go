package requestid_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/requestid"
)

func TestValid(t *testing.T) {
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"uuid", "0190f5a4-7b7e-7cc2-9c1e-2f3a4b5c6d7e", true},
		{"all allowed characters", "Az09._:-", true},
		{"one character", "a", true},
		{"128 characters", strings.Repeat("a", 128), true},
		{"empty", "", false},
		{"129 characters", strings.Repeat("a", 129), false},
		{"space", "a b", false},
		{"newline (log injection)", "abc\nlevel=ERROR", false},
		{"quote", `a"b`, false},
		{"slash", "a/b", false},
		{"non-ASCII", "é", false},
		{"NUL", "a\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := requestid.Valid(tt.id); got != tt.want {
				t.Errorf("Valid(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := requestid.New()
		if !requestid.Valid(id) {
			t.Fatalf("New() = %q, which is not Valid", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestContext(t *testing.T) {
	if got := requestid.FromContext(context.Background()); got != "" {
		t.Errorf("FromContext(empty) = %q, want \"\"", got)
	}
	ctx := requestid.NewContext(context.Background(), "req-1")
	if got := requestid.FromContext(ctx); got != "req-1" {
		t.Errorf("FromContext = %q, want req-1", got)
	}
}

func TestTransport(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get(requestid.Header))
	}))
	defer srv.Close()
	client := &http.Client{Transport: &requestid.Transport{}}

	tests := []struct {
		name   string
		ctx    context.Context
		header string
		want   string
	}{
		{"id from the context", requestid.NewContext(context.Background(), "abc-123"), "", "abc-123"},
		{"no id in the context", context.Background(), "", ""},
		{"caller's header kept", requestid.NewContext(context.Background(), "abc-123"), "explicit", "explicit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			req, err := http.NewRequestWithContext(tt.ctx, http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				req.Header.Set(requestid.Header, tt.header)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("server saw X-Request-ID %q, want %q", got, tt.want)
			}
			if tt.header == "" && req.Header.Get(requestid.Header) != "" {
				t.Error("the caller's request was modified")
			}
		})
	}
}

func TestTransportBase(t *testing.T) {
	var seen string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.Header.Get(requestid.Header)
		return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: r}, nil
	})
	client := &http.Client{Transport: &requestid.Transport{Base: base}}
	req, _ := http.NewRequestWithContext(requestid.NewContext(context.Background(), "via-base"), http.MethodPost, "http://example.invalid/hook", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen != "via-base" {
		t.Errorf("base transport saw %q, want via-base", seen)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
