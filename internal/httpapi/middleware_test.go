package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/requestid"
)

type echoRequest struct {
	Name  string `json:"name"`
	Age   int    `json:"age"`
	Email string `json:"email"`
}

func (e echoRequest) Validate() error {
	var errs []error
	if e.Name == "" {
		errs = append(errs, &gatehouse.Error{Code: gatehouse.EINVALID, Field: "name", Message: "Name is required."})
	}
	if e.Email != "" && !strings.Contains(e.Email, "@") {
		errs = append(errs, &gatehouse.Error{Code: gatehouse.EINVALID, Field: "email", Message: "Email must contain @."})
	}
	if len(errs) > 0 {
		return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed,
			Message: "The request has invalid fields.", Err: errors.Join(errs...)}
	}
	return nil
}

// addTestRoutes adds routes that exist only in tests, to drive the middleware.
func addTestRoutes(s *Server) {
	s.handle("POST /test/echo", s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		req, err := Decode[echoRequest](w, r)
		if err != nil {
			return err
		}
		return Encode(w, http.StatusOK, req)
	}))
	s.handle("GET /test/panic", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("kaboom: secret internals")
	}))
	s.handle("GET /test/panic-after-write", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic("kaboom after write")
	}))
	s.handle("GET /test/account", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetAccountID(r.Context(), "acc_123")
		w.WriteHeader(http.StatusNoContent)
	}))
	s.handle("GET /test/error", s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		return errors.New("database exploded: password=hunter2")
	}))
	s.handle("GET /test/raw500", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	s.handle("GET /test/ip", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, ClientIP(r.Context()).String())
	}))
}

func TestRequestID(t *testing.T) {
	env := newTestEnv(t, Deps{}, nil)
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"none", "", false},
		{"well-formed", "lb-7f3a:42.x_y", true},
		{"UUID", "0190f5a4-7b7e-7cc2-9c1e-2f3a4b5c6d7e", true},
		{"with a space", "bad id", false},
		{"too long", strings.Repeat("a", 129), false},
		{"log injection", "x\",\"level\":\"ERROR", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.incoming != "" {
				h.Set(requestid.Header, tt.incoming)
			}
			api := env.api
			if !requestid.Valid(tt.incoming) && tt.incoming != "" {
				api = api.AllowInvalidRequests()
			}
			resp := api.Do(http.MethodGet, "/health", nil, h)
			got := resp.Header.Get(requestid.Header)
			if tt.keep && got != tt.incoming {
				t.Errorf("X-Request-ID %q, want the incoming %q", got, tt.incoming)
			}
			if !tt.keep && (got == tt.incoming || !requestid.Valid(got)) {
				t.Errorf("X-Request-ID %q, want a new well-formed id", got)
			}
			// The same id is in the access log and in problems.
			var logged bool
			for _, l := range env.logs.lines(t, "http request") {
				if l["request_id"] == got {
					logged = true
				}
			}
			if !logged {
				t.Errorf("no access log line with request_id %q", got)
			}
			p := api.AllowInvalidRequests().Do(http.MethodGet, "/nope", nil, h)
			if tt.keep && p.Problem(t).RequestID != tt.incoming {
				t.Errorf("problem request_id %q, want %q", p.Problem(t).RequestID, tt.incoming)
			}
			if p.Problem(t).RequestID != p.Header.Get(requestid.Header) {
				t.Error("the problem's request_id differs from the header")
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	env := newTestEnv(t, Deps{}, nil)
	always := map[string]string{
		"X-Content-Type-Options":     "nosniff",
		"X-Frame-Options":            "DENY",
		"Referrer-Policy":            "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin",
	}
	tests := []struct {
		path        string
		wantNoStore bool
		wantCSP     string
	}{
		{"/health", true, "default-src 'none'"},
		{"/health/ready", true, "default-src 'none'"},
		{"/api/v1/status", true, "default-src 'none'"},
		{"/api/openapi.json", true, "default-src 'none'"},
		{"/api/docs", true, "script-src 'self' 'sha256-"},
		{"/api/v1/nope", true, "default-src 'none'"},
		{"/metrics", false, "default-src 'none'"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := env.api.AllowInvalidRequests().Get(tt.path)
			for k, v := range always {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if pp := resp.Header.Get("Permissions-Policy"); !strings.Contains(pp, "camera=()") {
				t.Errorf("Permissions-Policy = %q", pp)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, tt.wantCSP) || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy = %q, want %q and frame-ancestors 'none'", csp, tt.wantCSP)
			}
			if got := resp.Header.Get("Cache-Control") == "no-store"; got != tt.wantNoStore {
				t.Errorf("Cache-Control = %q, want no-store: %v", resp.Header.Get("Cache-Control"), tt.wantNoStore)
			}
			if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "" {
				t.Errorf("HSTS %q over plain HTTP", hsts)
			}
		})
	}
}

func TestHSTS(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	s, _ := newTestServer(t, cfg)
	tests := []struct {
		name   string
		remote string
		tls    bool
		proto  string
		want   bool
	}{
		{"plain HTTP", "203.0.113.7:1", false, "", false},
		{"direct TLS", "203.0.113.7:1", true, "", true},
		{"trusted proxy says https", "10.0.0.2:1", false, "https", true},
		{"trusted proxy says http", "10.0.0.2:1", false, "http", false},
		{"untrusted peer says https", "203.0.113.7:1", false, "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/health", nil)
			r.RemoteAddr = tt.remote
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			resp := serve(s, r)
			hsts := resp.Header.Get("Strict-Transport-Security")
			if (hsts != "") != tt.want {
				t.Errorf("HSTS %q, want present: %v", hsts, tt.want)
			}
			if tt.want && !strings.HasPrefix(hsts, "max-age=") {
				t.Errorf("HSTS %q", hsts)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	tests := []struct {
		name       string
		origins    []string
		method     string
		origin     string
		preflight  bool
		wantStatus int
		wantACAO   string
		wantCreds  bool
	}{
		{name: "no origins configured", method: "GET", origin: "https://app.example.com", wantStatus: 200},
		{name: "no origins configured: OPTIONS is a 405", method: "OPTIONS", origin: "https://app.example.com", preflight: true, wantStatus: 405},
		{name: "allowed origin", origins: []string{"https://app.example.com"}, method: "GET", origin: "https://app.example.com",
			wantStatus: 200, wantACAO: "https://app.example.com", wantCreds: true},
		{name: "denied origin", origins: []string{"https://app.example.com"}, method: "GET", origin: "https://evil.example",
			wantStatus: 200},
		{name: "wildcard subdomain", origins: []string{"https://*.example.com"}, method: "GET", origin: "https://a.example.com",
			wantStatus: 200, wantACAO: "https://a.example.com", wantCreds: true},
		{name: "preflight allowed", origins: []string{"https://app.example.com"}, method: "OPTIONS", origin: "https://app.example.com", preflight: true,
			wantStatus: 204, wantACAO: "https://app.example.com", wantCreds: true},
		{name: "preflight denied", origins: []string{"https://app.example.com"}, method: "OPTIONS", origin: "https://evil.example", preflight: true,
			wantStatus: 204},
		{name: "any origin, without credentials", origins: []string{"*"}, method: "GET", origin: "https://x.example",
			wantStatus: 200, wantACAO: "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.HTTP.CORSOrigins = tt.origins
			s, _ := newTestServer(t, cfg)
			r := httptest.NewRequest(tt.method, "/api/v1/status", nil)
			r.Header.Set("Origin", tt.origin)
			if tt.preflight {
				r.Header.Set("Access-Control-Request-Method", "POST")
				r.Header.Set("Access-Control-Request-Headers", "authorization,content-type") // as browsers send it: sorted
			}
			resp := serve(s, r)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.wantACAO)
			}
			if got := resp.Header.Get("Access-Control-Allow-Credentials") == "true"; got != tt.wantCreds {
				t.Errorf("Access-Control-Allow-Credentials %v, want %v", got, tt.wantCreds)
			}
			if tt.preflight && tt.wantACAO != "" {
				if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
					t.Errorf("Access-Control-Allow-Methods %q", m)
				}
				if h := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(h, "authorization") {
					t.Errorf("Access-Control-Allow-Headers %q", h)
				}
			}
			if !tt.preflight && tt.wantACAO != "" {
				if e := resp.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(e, "X-Request-Id") && !strings.Contains(e, "X-Request-ID") {
					t.Errorf("Access-Control-Expose-Headers %q lacks X-Request-ID", e)
				}
			}
			if len(tt.origins) == 0 {
				for k := range resp.Header {
					if strings.HasPrefix(k, "Access-Control-") {
						t.Errorf("CORS header %s without configured origins", k)
					}
				}
			}
		})
	}
}

func TestErrorProblems(t *testing.T) {
	env := newTestEnv(t, Deps{}, addTestRoutes)
	api := env.api.AllowInvalidRequests()
	big := `{"name":"` + strings.Repeat("x", 70<<10) + `"}`
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		contentType string
		chunked     bool
		wantStatus  int
		wantCode    string
		wantDetail  string
		wantField   string
		wantAllow   string
	}{
		{name: "unknown route", method: "GET", path: "/api/v1/nothing", wantStatus: 404, wantCode: "not_found", wantDetail: "/api/v1/nothing"},
		{name: "unknown root path", method: "GET", path: "/favicon.ico", wantStatus: 404, wantCode: "not_found"},
		{name: "wrong method", method: "POST", path: "/health", wantStatus: 405, wantCode: "method_not_allowed", wantAllow: "GET, HEAD"},
		{name: "wrong method on a test route", method: "DELETE", path: "/test/echo", wantStatus: 405, wantCode: "method_not_allowed", wantAllow: "POST"},
		{name: "body too large (Content-Length)", method: "POST", path: "/test/echo", body: big, contentType: "application/json",
			wantStatus: 413, wantCode: "request_too_large", wantDetail: "65536"},
		{name: "body too large (chunked)", method: "POST", path: "/test/echo", body: big, contentType: "application/json", chunked: true,
			wantStatus: 413, wantCode: "request_too_large", wantDetail: "65536"},
		{name: "wrong content type", method: "POST", path: "/test/echo", body: `{"name":"a"}`, contentType: "text/plain",
			wantStatus: 415, wantCode: "unsupported_media_type", wantDetail: "text/plain", wantField: "Content-Type"},
		{name: "no content type", method: "POST", path: "/test/echo", body: `{"name":"a"}`,
			wantStatus: 415, wantCode: "unsupported_media_type", wantDetail: "application/json"},
		{name: "unknown field", method: "POST", path: "/test/echo", body: `{"name":"a","admin":true}`, contentType: "application/json",
			wantStatus: 400, wantCode: "unknown_field", wantDetail: "admin", wantField: "admin"},
		{name: "trailing data", method: "POST", path: "/test/echo", body: `{"name":"a"} {"name":"b"}`, contentType: "application/json",
			wantStatus: 400, wantCode: "malformed_json", wantDetail: "after the JSON value"},
		{name: "malformed JSON", method: "POST", path: "/test/echo", body: `{"name":}`, contentType: "application/json",
			wantStatus: 400, wantCode: "malformed_json", wantDetail: "byte 9"},
		{name: "empty body", method: "POST", path: "/test/echo", contentType: "application/json",
			wantStatus: 400, wantCode: "malformed_json", wantDetail: "empty"},
		{name: "wrong field type", method: "POST", path: "/test/echo", body: `{"name":"a","age":"old"}`, contentType: "application/json",
			wantStatus: 400, wantCode: "invalid_field", wantField: "age"},
		{name: "validation", method: "POST", path: "/test/echo", body: `{"email":"nope"}`, contentType: "application/json",
			wantStatus: 422, wantCode: "validation_failed", wantField: "name"},
		{name: "internal error", method: "GET", path: "/test/error", wantStatus: 500, wantCode: "internal", wantDetail: "request id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
				if tt.chunked {
					body = io.MultiReader(body) // hides the length: sent chunked
				}
			}
			req, err := http.NewRequest(tt.method, env.ts.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := api.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := &responseView{status: resp.StatusCode, header: resp.Header, body: b}
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tt.wantStatus, b)
			}
			p := r.problem(t)
			if p.Code != tt.wantCode || p.Status != tt.wantStatus {
				t.Errorf("code %q status %d, want %q %d", p.Code, p.Status, tt.wantCode, tt.wantStatus)
			}
			if p.Type != ProblemTypeBase+tt.wantCode {
				t.Errorf("type %q", p.Type)
			}
			if p.Title != http.StatusText(tt.wantStatus) {
				t.Errorf("title %q, want %q", p.Title, http.StatusText(tt.wantStatus))
			}
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail %q, want it to mention %q", p.Detail, tt.wantDetail)
			}
			if tt.wantField != "" && !hasField(p.Errors, tt.wantField) {
				t.Errorf("errors %+v, want one for %q", p.Errors, tt.wantField)
			}
			if tt.wantAllow != "" && resp.Header.Get("Allow") != tt.wantAllow {
				t.Errorf("Allow %q, want %q", resp.Header.Get("Allow"), tt.wantAllow)
			}
			if p.RequestID == "" || p.RequestID != resp.Header.Get(requestid.Header) {
				t.Errorf("request_id %q, header %q", p.RequestID, resp.Header.Get(requestid.Header))
			}
			if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "exploded") {
				t.Errorf("the cause leaked: %s", b)
			}
		})
	}
	// The internal error's cause is logged, once, with the request id.
	failed := env.logs.lines(t, "request failed")
	if len(failed) != 1 || !strings.Contains(fmt.Sprint(failed[0]["err"]), "exploded") || failed[0]["request_id"] == "" {
		t.Errorf("request failed log lines: %v", failed)
	}
}

// rawDo sends a request without OpenAPI validation, for the test-only routes.
func rawDo(t *testing.T, method, url string, h http.Header) *responseView {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &responseView{status: resp.StatusCode, header: resp.Header, body: b}
}

func hasField(errs []FieldError, field string) bool {
	for _, e := range errs {
		if e.Field == field && e.Message != "" {
			return true
		}
	}
	return false
}

type responseView struct {
	status int
	header http.Header
	body   []byte
}

func (r *responseView) problem(t *testing.T) Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.body)
	}
	var p Problem
	if err := jsonUnmarshalStrict(r.body, &p); err != nil {
		t.Fatalf("problem: %v: %s", err, r.body)
	}
	return p
}

func TestPanicRecovery(t *testing.T) {
	env := newTestEnv(t, Deps{}, addTestRoutes)
	resp := env.api.AllowInvalidRequests().Get("/test/panic")
	if resp.Status != 500 {
		t.Fatalf("status %d, want 500", resp.Status)
	}
	p := resp.Problem(t)
	if p.Code != "internal" || p.Detail != internalDetail {
		t.Errorf("problem %+v", p)
	}
	for _, leak := range []string{"kaboom", "goroutine", "secret", ".go:"} {
		if strings.Contains(string(resp.Body), leak) {
			t.Errorf("the answer shows %q: %s", leak, resp.Body)
		}
	}
	panics := env.logs.lines(t, "panic serving request")
	if len(panics) != 1 {
		t.Fatalf("%d panic log lines, want 1", len(panics))
	}
	if !strings.Contains(fmt.Sprint(panics[0]["stack"]), "goroutine") || panics[0]["request_id"] != p.RequestID ||
		panics[0]["route"] != "/test/panic" {
		t.Errorf("panic log line %v", panics[0])
	}
	var access map[string]any
	for _, l := range env.logs.lines(t, "http request") {
		if l["request_id"] == p.RequestID {
			access = l
		}
	}
	if access == nil || access["status"] != float64(500) {
		t.Errorf("access log of the panic: %v", access)
	}
	// The server goes on serving.
	if env.api.Get("/health").Status != 200 {
		t.Error("/health after a panic")
	}
}

func TestPanicAfterWrite(t *testing.T) {
	env := newTestEnv(t, Deps{}, addTestRoutes)
	resp, err := http.Get(env.ts.URL + "/test/panic-after-write")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("a response broken by a panic looked whole to the client")
	}
	if n := len(env.logs.lines(t, "panic serving request")); n != 1 {
		t.Errorf("%d panic log lines, want 1", n)
	}
}

func TestAccessLog(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	env := newTestEnv(t, Deps{Config: cfg}, addTestRoutes)
	h := http.Header{requestid.Header: {"log-test-1"}, "X-Forwarded-For": {"198.51.100.4"}}
	// The test routes are not in the OpenAPI document: a plain client.
	resp := rawDo(t, http.MethodGet, env.ts.URL+"/test/account?token=s3cret", h)
	if resp.status != 204 {
		t.Fatalf("status %d", resp.status)
	}
	var line map[string]any
	for _, l := range env.logs.lines(t, "http request") {
		if l["request_id"] == "log-test-1" {
			line = l
		}
	}
	if line == nil {
		t.Fatalf("no access log line; logs:\n%s", env.logs)
	}
	want := map[string]any{
		"method": "GET", "route": "/test/account", "status": float64(204), "bytes": float64(0),
		"client_ip": "198.51.100.4", "account_id": "acc_123", "level": "INFO",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms = %v", line["duration_ms"])
	}
	if strings.Contains(env.logs.String(), "s3cret") {
		t.Error("the query string was logged")
	}

	// ClientIP is available to handlers.
	ip := rawDo(t, http.MethodGet, env.ts.URL+"/test/ip", h)
	if string(ip.body) != "198.51.100.4" {
		t.Errorf("ClientIP = %q", ip.body)
	}

	// Health probes log at debug; an unmatched path is logged as the path.
	env.api.Get("/health")
	env.api.AllowInvalidRequests().Get("/scanner/probe")
	for _, l := range env.logs.lines(t, "http request") {
		switch {
		case l["route"] == "/health" && l["level"] != "DEBUG":
			t.Errorf("health probe logged at %v", l["level"])
		case l["path"] == "/scanner/probe" && l["status"] != float64(404):
			t.Errorf("unmatched path line %v", l)
		}
	}
}

func TestSetAccountIDOutsideServer(t *testing.T) {
	SetAccountID(context.Background(), "x") // does nothing, does not panic
	if ClientIP(context.Background()).IsValid() {
		t.Error("ClientIP of a bare context")
	}
}

func TestDefaultBodyLimit(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.MaxBodyBytes = 0
	s, _ := newTestServer(t, cfg)
	addTestRoutes(s)
	r := httptest.NewRequest(http.MethodPost, "/test/echo", strings.NewReader(strings.Repeat(" ", DefaultMaxBodyBytes+1)))
	r.Header.Set("Content-Type", "application/json")
	if resp := serve(s, r); resp.StatusCode != 413 {
		t.Errorf("status %d, want 413 above the default limit", resp.StatusCode)
	}
}

func TestNewRequiresDeps(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New without a Logger did not panic")
		}
	}()
	New(Deps{Config: &config.Config{}})
}
