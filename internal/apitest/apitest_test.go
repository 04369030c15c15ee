package apitest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// recordingTB captures the failures the client reports, so that the test can check them.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

const problemBody = `{"type":"https://gatehouse.dev/problems/not_found","title":"Not Found","status":404,` +
	`"code":"not_found","request_id":"r1","timestamp":"2026-01-02T03:04:05Z"}`

func TestValidation(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		method    string
		invalidOK bool
		status    int
		header    map[string]string
		body      string
		wantError string // "" for none
	}{
		{
			name: "documented answer", path: "/health", status: 200,
			header: map[string]string{"Content-Type": "application/json", "X-Request-ID": "r1"},
			body:   `{"status":"ok"}`,
		},
		{
			name: "body against the schema", path: "/health", status: 200,
			header:    map[string]string{"Content-Type": "application/json", "X-Request-ID": "r1"},
			body:      `{"status":"fine"}`,
			wantError: "does not match the OpenAPI document",
		},
		{
			name: "unknown field in the answer", path: "/health", status: 200,
			header:    map[string]string{"Content-Type": "application/json", "X-Request-ID": "r1"},
			body:      `{"status":"ok","debug":"x"}`,
			wantError: "does not match the OpenAPI document",
		},
		{
			name: "required header missing", path: "/health", status: 200,
			header:    map[string]string{"Content-Type": "application/json"},
			body:      `{"status":"ok"}`,
			wantError: "X-Request-ID",
		},
		{
			name: "wrong content type", path: "/health", status: 200,
			header:    map[string]string{"Content-Type": "text/plain", "X-Request-ID": "r1"},
			body:      `ok`,
			wantError: "does not match the OpenAPI document",
		},
		{
			name: "problem answer of a documented route", path: "/api/v1/status", status: 404,
			header: map[string]string{"Content-Type": "application/problem+json", "X-Request-ID": "r1"},
			body:   problemBody,
		},
		{
			name: "malformed problem", path: "/api/v1/status", status: 500,
			header:    map[string]string{"Content-Type": "application/problem+json", "X-Request-ID": "r1"},
			body:      `{"error":"boom"}`,
			wantError: "does not match the OpenAPI document",
		},
		{
			name: "undocumented route", path: "/nowhere", status: 404,
			header:    map[string]string{"Content-Type": "application/problem+json", "X-Request-ID": "r1"},
			body:      problemBody,
			wantError: "is not in the OpenAPI document",
		},
		{
			name: "undocumented route, on purpose, answered with a problem", path: "/nowhere", invalidOK: true, status: 404,
			header: map[string]string{"Content-Type": "application/problem+json", "X-Request-ID": "r1"},
			body:   problemBody,
		},
		{
			name: "undocumented route, on purpose, answered 200", path: "/nowhere", invalidOK: true, status: 200,
			header:    map[string]string{"Content-Type": "text/plain"},
			body:      "hello",
			wantError: "yet it answered 200",
		},
		{
			name: "undocumented method, on purpose, answered with a plain 405", path: "/health", method: "DELETE", invalidOK: true, status: 405,
			header:    map[string]string{"Content-Type": "text/plain"},
			body:      "Method Not Allowed",
			wantError: "application/problem+json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			rec := &recordingTB{TB: t}
			c := NewClient(rec, srv.URL)
			if tt.invalidOK {
				c = c.AllowInvalidRequests()
			}
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			resp := c.Do(method, tt.path, nil, nil)
			if resp.Status != tt.status || string(resp.Body) != tt.body {
				t.Errorf("response %d %q, want %d %q", resp.Status, resp.Body, tt.status, tt.body)
			}
			got := strings.Join(rec.errors, "\n")
			switch {
			case tt.wantError == "" && got != "":
				t.Errorf("unexpected validation failure:\n%s", got)
			case tt.wantError != "" && !strings.Contains(got, tt.wantError):
				t.Errorf("validation failures %q, want one containing %q", got, tt.wantError)
			}
		})
	}
}

func TestRequestBody(t *testing.T) {
	var gotBody, gotType, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 100)
		n, _ := r.Body.Read(buf)
		gotBody, gotType, gotAuth = string(buf[:n]), r.Header.Get("Content-Type"), r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("X-Request-ID", "r1")
		w.WriteHeader(404)
		_, _ = w.Write([]byte(problemBody))
	}))
	defer srv.Close()
	rec := &recordingTB{TB: t}
	c := NewClient(rec, srv.URL).AllowInvalidRequests()
	c.Header.Set("Authorization", "Bearer t")
	resp := c.Post("/anything", map[string]any{"a": 1})
	if gotBody != `{"a":1}` || gotType != "application/json" || gotAuth != "Bearer t" {
		t.Errorf("server got body %q, type %q, auth %q", gotBody, gotType, gotAuth)
	}
	if p := resp.Problem(t); p.Code != "not_found" || p.Status != 404 {
		t.Errorf("problem %+v", p)
	}
	if len(rec.errors) > 0 {
		t.Errorf("unexpected failures: %v", rec.errors)
	}
}

// TestConcurrentUse: one Client may serve parallel subtests.
func TestConcurrentUse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-ID", "r1")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	rec := &recordingTB{TB: t}
	c := NewClient(rec, srv.URL)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				c.Get("/health")
			}
		})
	}
	wg.Wait()
	if len(rec.errors) > 0 {
		t.Errorf("failures: %v", rec.errors)
	}
}
