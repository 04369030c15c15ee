package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestEnvURL(t *testing.T) {
	tests := []struct{ base, path, want string }{
		{"http://127.0.0.1:8080", "/health", "http://127.0.0.1:8080/health"},
		{"http://127.0.0.1:8080/", "/health", "http://127.0.0.1:8080/health"},
		{"http://127.0.0.1:8080/auth", "/api/v1/status", "http://127.0.0.1:8080/auth/api/v1/status"},
		{"http://127.0.0.1:8080/auth/", "/api/v1/x?a=1&b=2", "http://127.0.0.1:8080/auth/api/v1/x?a=1&b=2"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.base)
		if err != nil {
			t.Fatal(err)
		}
		if got := (Env{BaseURL: u}).URL(tt.path); got != tt.want {
			t.Errorf("URL(%q) on %s = %q, want %q", tt.path, tt.base, got, tt.want)
		}
	}
}

func TestEnvUnique(t *testing.T) {
	env := Env{RunID: "r1"}
	seen := map[string]bool{}
	for w := range 12 {
		for i := range uint64(12) {
			s := env.Unique(w, i)
			if seen[s] {
				t.Fatalf("Unique(%d, %d) = %q repeats", w, i, s)
			}
			seen[s] = true
		}
	}
	if got := env.Unique(1, 11); got != "r1-1-11" {
		t.Errorf("Unique(1, 11) = %q, want r1-1-11", got)
	}
}

func TestJSONRequest(t *testing.T) {
	req, err := JSONRequest(context.Background(), http.MethodPost, "http://127.0.0.1/api/v1/auth/signup",
		map[string]string{"email": "a@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	if string(body) != `{"email":"a@example.test"}` || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("body %s, content type %q", body, req.Header.Get("Content-Type"))
	}
	if req.ContentLength != int64(len(body)) {
		t.Errorf("content length %d, want %d", req.ContentLength, len(body))
	}
	if _, err := JSONRequest(context.Background(), http.MethodPost, "http://x", func() {}); err == nil {
		t.Error("a body that cannot be encoded was accepted")
	}
}

func TestBuiltinWorkloads(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:1")
	want := map[string]struct {
		path   string
		status int
	}{
		"health":   {"/health", 200},
		"ready":    {"/health/ready", 200},
		"notfound": {"/api/v1/nope", 404},
		"status":   {"/api/v1/status", 200},
	}
	ws := Builtin()
	if got := strings.Join(Names(ws), ","); got != "health,notfound,ready,status" {
		t.Errorf("names = %s", got)
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			wl, err := Find(ws, name)
			if err != nil {
				t.Fatal(err)
			}
			if wl.Description == "" {
				t.Error("no description")
			}
			next, err := wl.Setup(context.Background(), Env{BaseURL: base, Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			call, err := next(ctx, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			req, status := call.Request, call.Want
			if req.Method != http.MethodGet || req.URL.Path != w.path || status != w.status {
				t.Errorf("request %s %s expecting %d; want GET %s expecting %d", req.Method, req.URL.Path, status, w.path, w.status)
			}
			if req.Context() != ctx {
				t.Error("the request is not bound to the run's context")
			}
		})
	}
	if _, err := Find(ws, "nope"); err == nil || !strings.Contains(err.Error(), "health, notfound, ready, status") {
		t.Errorf("Find(nope) = %v, want an error listing the workloads", err)
	}
}
