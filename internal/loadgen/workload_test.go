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

// TestBuiltinWorkloads checks the first request of every workload. The set-up of the auth workloads
// runs against fakeAuth (auth_test.go).
func TestBuiltinWorkloads(t *testing.T) {
	want := map[string]struct {
		method, path string
		status       int
	}{
		"health":    {http.MethodGet, "/health", 200},
		"ready":     {http.MethodGet, "/health/ready", 200},
		"notfound":  {http.MethodGet, "/api/v1/nope", 404},
		"status":    {http.MethodGet, "/api/v1/status", 200},
		"signup":    {http.MethodPost, "/api/v1/auth/register", 202},
		"signin":    {http.MethodPost, "/api/v1/auth/login", 200},
		"refresh":   {http.MethodPost, "/api/v1/auth/token/refresh", 200},
		"account":   {http.MethodGet, "/api/v1/account", 200},
		"otp-start": {http.MethodPost, "/api/v1/auth/register/phone/start", 202},
	}
	ws := Builtin()
	const names = "account,health,notfound,otp-start,ready,refresh,signin,signup,status"
	if got := strings.Join(Names(ws), ","); got != names {
		t.Errorf("names = %s, want %s", got, names)
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
			next, err := wl.Setup(context.Background(), testEnv(t, newFakeAuth(), 2))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			call, err := next(ctx, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			req, status := call.Request, call.Want
			if req.Method != w.method || req.URL.Path != w.path || status != w.status {
				t.Errorf("request %s %s expecting %d; want %s %s expecting %d", req.Method, req.URL.Path, status, w.method, w.path, w.status)
			}
			if req.Method == http.MethodPost && req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", req.Header.Get("Content-Type"))
			}
			if req.Context() != ctx {
				t.Error("the request is not bound to the run's context")
			}
		})
	}
	if _, err := Find(ws, "nope"); err == nil || !strings.Contains(err.Error(), "account, health, notfound") {
		t.Errorf("Find(nope) = %v, want an error listing the workloads", err)
	}
}
