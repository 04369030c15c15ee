package httpapi

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
)

func TestHealth(t *testing.T) {
	env := newTestEnv(t, Deps{}, nil)
	resp := env.api.Get("/health")
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.Status)
	}
	var body struct{ Status string }
	resp.JSON(t, &body)
	if body.Status != "ok" {
		t.Errorf("status %q, want ok", body.Status)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
}

func TestReadiness(t *testing.T) {
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial tcp 10.0.0.5:5432: connection refused") }
	slow := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	boom := func(context.Context) error { panic("broken check") }

	tests := []struct {
		name       string
		checks     []Check
		draining   bool
		wantStatus int
		wantBody   string
		wantChecks map[string]string // name → up/down
		wantErrors map[string]string
	}{
		{
			name:       "all up",
			checks:     []Check{{Name: "database", Run: up}, {Name: "ephemeral", Run: up}, {Name: "queue", Run: up}, {Name: "mail", Run: up}},
			wantStatus: 200, wantBody: "ready",
			wantChecks: map[string]string{"database": "up", "ephemeral": "up", "queue": "up", "mail": "up"},
		},
		{
			name:       "database down",
			checks:     []Check{{Name: "database", Run: down}, {Name: "ephemeral", Run: up}, {Name: "queue", Run: up}, {Name: "mail", Run: up}},
			wantStatus: 503, wantBody: "not_ready",
			wantChecks: map[string]string{"database": "down", "ephemeral": "up", "queue": "up", "mail": "up"},
			wantErrors: map[string]string{"database": "failed"},
		},
		{
			name:       "check times out",
			checks:     []Check{{Name: "database", Run: up}, {Name: "mail", Run: slow}},
			wantStatus: 503, wantBody: "not_ready",
			wantChecks: map[string]string{"database": "up", "mail": "down"},
			wantErrors: map[string]string{"mail": "timeout"},
		},
		{
			name:       "check panics",
			checks:     []Check{{Name: "queue", Run: boom}},
			wantStatus: 503, wantBody: "not_ready",
			wantChecks: map[string]string{"queue": "down"},
			wantErrors: map[string]string{"queue": "failed"},
		},
		{
			name:       "optional check down leaves the node ready but degraded",
			checks:     []Check{{Name: "database", Run: up}, {Name: "mail", Run: down, Optional: true}},
			wantStatus: 200, wantBody: "degraded",
			wantChecks: map[string]string{"database": "up", "mail": "down"},
			wantErrors: map[string]string{"mail": "failed"},
		},
		{
			name:       "required check down wins over optional",
			checks:     []Check{{Name: "database", Run: down}, {Name: "mail", Run: down, Optional: true}},
			wantStatus: 503, wantBody: "not_ready",
			wantChecks: map[string]string{"database": "down", "mail": "down"},
			wantErrors: map[string]string{"database": "failed", "mail": "failed"},
		},
		{
			name:       "draining",
			checks:     []Check{{Name: "database", Run: up}},
			draining:   true,
			wantStatus: 503, wantBody: "draining",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, Deps{Checks: tt.checks, CheckTimeout: 50 * time.Millisecond}, nil)
			if tt.draining {
				env.srv.SetDraining()
			}
			resp := env.api.Get("/health/ready")
			if resp.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.Status, tt.wantStatus, resp.Body)
			}
			var body readiness
			resp.JSON(t, &body)
			if body.Status != tt.wantBody {
				t.Errorf("status %q, want %q", body.Status, tt.wantBody)
			}
			if len(body.Checks) != len(tt.wantChecks) {
				t.Errorf("checks %v, want %v", body.Checks, tt.wantChecks)
			}
			for name, want := range tt.wantChecks {
				got, ok := body.Checks[name]
				if !ok || got.Status != want {
					t.Errorf("check %s = %+v, want %s", name, got, want)
				}
				if got.LatencyMS < 0 {
					t.Errorf("check %s latency %v < 0", name, got.LatencyMS)
				}
				if got.Error != tt.wantErrors[name] {
					t.Errorf("check %s error %q, want %q", name, got.Error, tt.wantErrors[name])
				}
			}
			if strings.Contains(string(resp.Body), "10.0.0.5") {
				t.Error("the readiness answer shows the internal error text")
			}
			if tt.wantErrors["database"] == "failed" && !strings.Contains(env.logs.String(), "10.0.0.5") {
				t.Error("the check's error is not logged")
			}
		})
	}
}

// TestReadinessLatency checks that the latency is measured with the injected clock.
func TestReadinessLatency(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	check := func(context.Context) error { clock.Add(1500 * time.Microsecond); return nil }
	env := newTestEnv(t, Deps{Now: clock.Now, Checks: []Check{{Name: "database", Run: check}}}, nil)
	var body readiness
	env.api.Get("/health/ready").JSON(t, &body)
	if got := body.Checks["database"].LatencyMS; got != 1.5 {
		t.Errorf("latency_ms = %v, want 1.5", got)
	}
}

func TestStatus(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	started := clock.Now()
	clock.Add(90*time.Minute + 500*time.Millisecond)
	cfg := testConfig()
	cfg.Env = config.EnvProduction
	backends := map[string]string{"records": "sqlite", "ephemeral": "memory", "queue": "sqlite", "mail": "dev-outbox"}
	env := newTestEnv(t, Deps{Config: cfg, Version: "1.2.3", Commit: "abc1234", Started: started, Now: clock.Now, Backends: backends}, nil)

	resp := env.api.Get("/api/v1/status")
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	var body statusBody
	resp.JSON(t, &body)
	if body.Name != "gatehouse" || body.Version != "1.2.3" || body.Commit != "abc1234" || body.Environment != "production" {
		t.Errorf("identity = %+v", body)
	}
	if body.UptimeSeconds != 5400 {
		t.Errorf("uptime_seconds = %d, want 5400", body.UptimeSeconds)
	}
	if !body.StartedAt.Equal(started) {
		t.Errorf("started_at = %v, want %v", body.StartedAt, started)
	}
	for k, v := range backends {
		if body.Backends[k] != v {
			t.Errorf("backends[%s] = %q, want %q", k, body.Backends[k], v)
		}
	}
	if !strings.HasPrefix(body.GoVersion, "go") {
		t.Errorf("go_version = %q", body.GoVersion)
	}
}

func TestMetrics(t *testing.T) {
	pool := func() records.PoolStats {
		return records.PoolStats{MaxConns: 10, OpenConns: 4, InUse: 3, Idle: 1, WaitCount: 7, WaitDuration: 2 * time.Second}
	}
	queue := func(context.Context) (jobs.Stats, error) {
		return jobs.Stats{Available: 5, Scheduled: 1, Retryable: 2, Running: 3, Failed: 4, Completed: 9}, nil
	}
	reg := prometheus.NewRegistry()
	env := newTestEnv(t, Deps{Registry: reg, PoolStats: pool, QueueStats: queue}, nil)
	env.api.Get("/health")
	env.api.Get("/health")
	env.api.AllowInvalidRequests().Get("/no/such/path/123")

	resp := env.api.Get("/metrics")
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	body := string(resp.Body)
	for _, want := range []string{
		`gatehouse_http_requests_total{code="200",method="GET",route="/health"} 2`,
		`gatehouse_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`gatehouse_http_request_duration_seconds_bucket{method="GET",route="/health",le="+Inf"} 2`,
		`gatehouse_http_requests_in_flight 1`,
		`gatehouse_db_pool_max_connections 10`,
		`gatehouse_db_pool_open_connections 4`,
		`gatehouse_db_pool_in_use_connections 3`,
		`gatehouse_db_pool_idle_connections 1`,
		`gatehouse_db_pool_waits_total 7`,
		`gatehouse_db_pool_wait_seconds_total 2`,
		`gatehouse_jobs{state="available"} 5`,
		`gatehouse_jobs{state="failed"} 4`,
		`gatehouse_jobs{state="retryable"} 2`,
		`gatehouse_jobs_stats_up 1`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, "/no/such/path") {
		t.Error("a raw path became a label")
	}
}

func TestMetricsQueueDown(t *testing.T) {
	queue := func(context.Context) (jobs.Stats, error) { return jobs.Stats{}, errors.New("database is down") }
	env := newTestEnv(t, Deps{QueueStats: queue}, nil)
	body := string(env.api.Get("/metrics").Body)
	if !strings.Contains(body, "gatehouse_jobs_stats_up 0") {
		t.Error("gatehouse_jobs_stats_up is not 0 when the queue cannot be counted")
	}
}

func TestMetricsAccess(t *testing.T) {
	tests := []struct {
		name       string
		enabled    bool
		token      string
		auth       string
		wantStatus int
		wantCode   string
	}{
		{"open", true, "", "", 200, ""},
		{"token required and given", true, "s3cret", "Bearer s3cret", 200, ""},
		{"token required, none given", true, "s3cret", "", 401, "unauthenticated"},
		{"token required, wrong one", true, "s3cret", "Bearer guess", 401, "unauthenticated"},
		{"token required, other scheme", true, "s3cret", "Basic s3cret", 401, "unauthenticated"},
		{"disabled", false, "", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Metrics = config.Metrics{Enabled: tt.enabled, Token: tt.token}
			env := newTestEnv(t, Deps{Config: cfg}, nil)
			h := http.Header{}
			if tt.auth != "" {
				h.Set("Authorization", tt.auth)
			}
			resp := env.api.Do(http.MethodGet, "/metrics", nil, h)
			if resp.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.Status, tt.wantStatus)
			}
			if tt.wantCode != "" {
				if p := resp.Problem(t); p.Code != tt.wantCode {
					t.Errorf("code %q, want %q", p.Code, tt.wantCode)
				}
			}
			if tt.wantStatus == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tt.wantStatus == 200 && !strings.Contains(string(resp.Body), "gatehouse_http_requests_in_flight") {
				t.Error("no metrics in the body")
			}
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	env := newTestEnv(t, Deps{}, nil)
	resp := env.api.Get("/api/openapi.json")
	if resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	resp.JSON(t, &doc)
	if doc.OpenAPI != "3.1.0" || doc.Paths["/health"] == nil {
		t.Errorf("unexpected document: openapi=%q, %d paths", doc.OpenAPI, len(doc.Paths))
	}
}

func TestDocsPage(t *testing.T) {
	env := newTestEnv(t, Deps{}, nil)
	resp := env.api.Get("/api/docs")
	if resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	page := string(resp.Body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(page, "/api/openapi.json") {
		t.Error("the page does not point at /api/openapi.json")
	}
	// Every script, style sheet and icon comes from this origin: no CDN.
	refs := regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']([^"']+)["']`).FindAllStringSubmatch(page, -1)
	if len(refs) == 0 {
		t.Fatal("no src/href in the page")
	}
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, "//") || !strings.HasPrefix(ref, "/api/docs/") {
			t.Errorf("the page loads %q, which is not an embedded asset", ref)
			continue
		}
		asset := env.api.Get(ref)
		if asset.Status != 200 || len(asset.Body) == 0 {
			t.Errorf("asset %s: status %d, %d bytes", ref, asset.Status, len(asset.Body))
		}
	}
	for _, cdn := range []string{"unpkg.com", "jsdelivr", "cdnjs", "googleapis"} {
		if strings.Contains(page, cdn) {
			t.Errorf("the page mentions %s", cdn)
		}
	}

	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self' 'sha256-", "style-src 'self' 'sha256-", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows unsafe sources", csp)
	}
	// Each inline block is allowed by its hash, and nothing else inline exists.
	if n := len(inlineScript.FindAllString(page, -1)); n != strings.Count(csp, "sha256-")-len(inlineStyle.FindAllString(page, -1)) {
		t.Errorf("%d inline scripts, CSP %q", n, csp)
	}
}

func TestDocsAsset(t *testing.T) {
	env := newTestEnv(t, Deps{}, nil)
	tests := []struct {
		path       string
		wantStatus int
		wantType   string
	}{
		{"/api/docs/swagger-ui-bundle.js", 200, "javascript"},
		{"/api/docs/swagger-ui.css", 200, "text/css"},
		{"/api/docs/favicon-32x32.png", 200, "image/png"},
		{"/api/docs/nope.js", 404, "application/problem+json"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := env.api.Get(tt.path)
			if resp.Status != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.Status, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, tt.wantType) {
				t.Errorf("Content-Type %q, want %q", ct, tt.wantType)
			}
			wantCache := "no-store"
			if tt.wantStatus == 200 {
				wantCache = "public, max-age=3600"
			}
			if cc := resp.Header.Get("Cache-Control"); cc != wantCache {
				t.Errorf("Cache-Control %q, want %q", cc, wantCache)
			}
		})
	}
}
