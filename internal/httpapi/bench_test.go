package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMiddleware compares a bare handler with the same request through the whole Server
// (request id, client IP, access log, metrics, recovery, security headers, body limit, router), on
// /health and on a path that matches no route. The difference per operation is the middleware's
// cost per request. The access log writes JSON to io.Discard at info level, as in production.
//
//	go test -run '^$' -bench BenchmarkMiddleware -benchmem ./internal/httpapi/
func BenchmarkMiddleware(b *testing.B) {
	s := New(Deps{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Config: testConfig(),
	})
	bare := http.NewServeMux()
	bare.Handle("GET /health", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = Encode(w, http.StatusOK, healthBody{Status: "ok"})
	}))

	for _, bc := range []struct {
		name    string
		handler http.Handler
		path    string
		status  int
	}{
		{"health/bare", bare, "/health", 200},
		{"health/full", s, "/health", 200},
		{"404/bare", bare, "/no/such/path", 404},
		{"404/full", s, "/no/such/path", 404},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			req.RemoteAddr = "192.0.2.1:1234"
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				bc.handler.ServeHTTP(w, req)
				if w.Code != bc.status {
					b.Fatalf("status %d, want %d", w.Code, bc.status)
				}
			}
		})
	}
}
