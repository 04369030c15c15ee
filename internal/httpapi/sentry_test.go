package httpapi

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/requestid"
)

// sentryEvent is the part of a Sentry event the tests look at.
type sentryEvent struct {
	Level       string            `json:"level"`
	Message     string            `json:"message"`
	Tags        map[string]string `json:"tags"`
	Environment string            `json:"environment"`
	Release     string            `json:"release"`
	Transaction string            `json:"transaction"`
	Request     struct {
		URL         string            `json:"url"`
		Method      string            `json:"method"`
		QueryString string            `json:"query_string"`
		Headers     map[string]string `json:"headers"`
		Cookies     string            `json:"cookies"`
	} `json:"request"`
	Exception []struct {
		Type       string `json:"type"`
		Value      string `json:"value"`
		Stacktrace *struct {
			Frames []json.RawMessage `json:"frames"`
		} `json:"stacktrace"`
	} `json:"exception"`
}

// fakeSentry is a local HTTP server that receives Sentry envelopes and keeps their events.
type fakeSentry struct {
	*httptest.Server
	mu     sync.Mutex
	events []sentryEvent
}

func newFakeSentry(t *testing.T) *fakeSentry {
	t.Helper()
	f := &fakeSentry{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("fake sentry: %v", err)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		if !strings.HasSuffix(r.URL.Path, "/envelope/") {
			t.Errorf("fake sentry: unexpected path %s", r.URL.Path)
		}
		// An envelope: a header line, then item header and payload lines.
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 4<<20), 4<<20)
		sc.Scan() // envelope header
		for sc.Scan() {
			var item struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(sc.Bytes(), &item); err != nil {
				t.Errorf("fake sentry: item header: %v", err)
				return
			}
			if !sc.Scan() {
				break
			}
			if item.Type != "event" {
				continue
			}
			var ev sentryEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("fake sentry: event: %v", err)
				return
			}
			f.mu.Lock()
			f.events = append(f.events, ev)
			f.mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSentry) dsn() string {
	return "http://publickey@" + strings.TrimPrefix(f.URL, "http://") + "/1"
}

func (f *fakeSentry) byRequestID() map[string][]sentryEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]sentryEvent{}
	for _, ev := range f.events {
		out[ev.Tags["request_id"]] = append(out[ev.Tags["request_id"]], ev)
	}
	return out
}

func TestSentry(t *testing.T) {
	fake := newFakeSentry(t)
	reporter, err := NewSentry(fake.dsn(), "test", "gatehouse@1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	defer reporter.Close()
	env := newTestEnv(t, Deps{Sentry: reporter, Checks: []Check{{Name: "database", Run: func(context.Context) error { return errors.New("down") }}}}, addTestRoutes)

	tests := []struct {
		name      string
		path      string
		status    int
		wantEvent bool
		wantLevel string
		wantText  string
	}{
		{"panic", "/test/panic?token=s3cret", 500, true, "fatal", "kaboom"},
		{"internal error", "/test/error", 500, true, "error", "exploded"},
		{"5xx written directly", "/test/raw500", 502, true, "error", "answered 502"},
		{"readiness says not ready", "/health/ready", 503, false, "", ""},
		{"client error", "/nowhere", 404, false, "", ""},
		{"success", "/health", 200, false, "", ""},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		id := "sentry-" + strings.ReplaceAll(tt.name, " ", "-")
		ids[tt.name] = id
		req, _ := http.NewRequest(http.MethodGet, env.ts.URL+tt.path, nil)
		req.Header.Set(requestid.Header, id)
		req.Header.Set("Authorization", "Bearer secret-token")
		req.Header.Set("Cookie", "session=secret-cookie")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Fatalf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
	}
	if !reporter.Flush(10 * time.Second) {
		t.Fatal("Sentry events were not delivered within 10s")
	}
	got := fake.byRequestID()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := got[ids[tt.name]]
			if !tt.wantEvent {
				if len(evs) != 0 {
					t.Errorf("%d events, want none", len(evs))
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("%d events, want exactly 1", len(evs))
			}
			ev := evs[0]
			if ev.Level != tt.wantLevel {
				t.Errorf("level %q, want %q", ev.Level, tt.wantLevel)
			}
			route := strings.SplitN(tt.path, "?", 2)[0]
			if ev.Tags["method"] != "GET" || ev.Tags["route"] != route {
				t.Errorf("tags %v, want method GET and route %s", ev.Tags, route)
			}
			if ev.Environment != "test" || ev.Release != "gatehouse@1.2.3" {
				t.Errorf("environment %q release %q", ev.Environment, ev.Release)
			}
			raw, _ := json.Marshal(ev)
			if !strings.Contains(string(raw), tt.wantText) {
				t.Errorf("event does not mention %q: %s", tt.wantText, raw)
			}
			for _, secret := range []string{"s3cret", "secret-token", "secret-cookie"} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("event carries %q: %s", secret, raw)
				}
			}
			if tt.wantLevel == "fatal" {
				if v := ev.Exception; len(v) == 0 || v[0].Stacktrace == nil || len(v[0].Stacktrace.Frames) == 0 {
					t.Errorf("panic event without a stack trace: %s", raw)
				}
			}
		})
	}
}

func TestSentryDisabled(t *testing.T) {
	s, err := NewSentry("", "", "")
	if err != nil || s.Enabled() {
		t.Fatalf("NewSentry(\"\") = %v, %v; want a disabled reporter", s, err)
	}
	if !s.Flush(time.Second) {
		t.Error("Flush of a disabled reporter reported failure")
	}
	s.Close()
	var none *Sentry
	none.reportPanic(httptest.NewRequest("GET", "/", nil), nil, "x") // nil-safe
	if _, err := NewSentry("not a dsn", "x", "y"); err == nil {
		t.Error("a malformed DSN was accepted")
	}
}
