// Package httpapi is gatehouse's HTTP layer: every route (routes.go), the middleware around them
// (request id, client IP behind trusted proxies, access log, metrics, panic recovery, security
// headers, CORS, body limit), RFC 9457 problem responses, strict JSON decoding, the operations
// endpoints (health, readiness, status, metrics), error reporting to Sentry, the OpenAPI document with
// its interactive docs, and graceful shutdown (Serve). It is the only package that maps error codes to
// HTTP statuses.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/mail"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/session"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/openapi"
)

// DefaultMaxBodyBytes is the body limit when the configuration sets none.
const DefaultMaxBodyBytes = 64 << 10

// Deps is what the Server is built from. Logger and Config are required; the rest is optional.
type Deps struct {
	Logger *slog.Logger
	Config *config.Config

	// Version and Commit identify the build in /api/v1/status.
	Version, Commit string
	// Started is when the process started, for the uptime.
	Started time.Time
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Backends names the implementation behind each part, e.g. {"records":"sqlite",
	// "ephemeral":"memory","queue":"sqlite","mail":"dev-outbox"}.
	Backends map[string]string
	// Checks are the dependencies /health/ready reports on.
	Checks []Check
	// CheckTimeout bounds each readiness check; 0 means DefaultCheckTimeout.
	CheckTimeout time.Duration

	// Registry receives the HTTP, store, Go runtime and process metrics served at /metrics; nil
	// means a new registry.
	Registry *prometheus.Registry
	// PoolStats and QueueStats, when set, are exported as gauges at each scrape.
	PoolStats  func() records.PoolStats
	QueueStats func(ctx context.Context) (jobs.Stats, error)

	// Sentry receives panics and 5xx responses; nil reports nothing.
	Sentry *Sentry

	// Auth serves the authentication and account routes; nil answers them with 503 (a server for
	// the operations endpoints only, as in tests).
	Auth *Auth
}

// Auth is what the authentication and account routes are built on.
type Auth struct {
	Accounts    *account.Service
	Sessions    *session.Service
	Tokens      *token.Tokens
	Keys        *token.KeyManager
	Revocations *session.RevocationChecker
	// Outbox is the dev outbox when it is the sender (development only); nil otherwise.
	Outbox *mail.DevOutbox
}

// Server is gatehouse's HTTP handler: the routes of routes.go behind the middleware chain.
type Server struct {
	logger       *slog.Logger
	cfg          *config.Config
	version      string
	commit       string
	started      time.Time
	now          func() time.Time
	backends     map[string]string
	checks       []Check
	checkTimeout time.Duration
	registry     *prometheus.Registry
	metrics      *httpMetrics
	sentry       *Sentry
	auth         *Auth
	crossOrigin  *http.CrossOriginProtection
	openapiJSON  []byte
	docs         *docsUI

	mux     *http.ServeMux
	routes  []string
	handler http.Handler

	draining atomic.Bool
}

// New builds the Server. It panics when Deps lacks the Logger or the Config, or when a route in
// routes.go is malformed or registered twice (a programming error that every test run shows).
func New(deps Deps) *Server {
	if deps.Logger == nil || deps.Config == nil {
		panic("httpapi.New: Deps.Logger and Deps.Config are required")
	}
	s := &Server{
		logger:       deps.Logger,
		cfg:          deps.Config,
		version:      deps.Version,
		commit:       deps.Commit,
		started:      deps.Started,
		now:          deps.Now,
		backends:     deps.Backends,
		checks:       deps.Checks,
		checkTimeout: deps.CheckTimeout,
		registry:     deps.Registry,
		sentry:       deps.Sentry,
		auth:         deps.Auth,
		crossOrigin:  http.NewCrossOriginProtection(),
		mux:          http.NewServeMux(),
	}
	for _, o := range s.cfg.HTTP.CORSOrigins {
		if !strings.Contains(o, "*") { // wildcard patterns are for CORS only
			if err := s.crossOrigin.AddTrustedOrigin(o); err != nil {
				panic(fmt.Sprintf("httpapi: trusted origin %q: %v", o, err))
			}
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.started.IsZero() {
		s.started = s.now()
	}
	if s.checkTimeout <= 0 {
		s.checkTimeout = DefaultCheckTimeout
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	registerRuntimeCollectors(s.registry)
	s.metrics = newHTTPMetrics(s.registry)
	if deps.PoolStats != nil || deps.QueueStats != nil {
		registerOrExisting[prometheus.Collector](s.registry, newStoreCollector(deps.PoolStats, deps.QueueStats))
	}
	var err error
	if s.openapiJSON, err = openapi.JSON(); err != nil {
		panic(fmt.Sprintf("httpapi: the embedded OpenAPI document: %v", err))
	}
	if s.docs, err = newDocsUI(); err != nil {
		panic(fmt.Sprintf("httpapi: the embedded docs page: %v", err))
	}

	s.addRoutes()

	maxBody := s.cfg.HTTP.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	chain := []func(http.Handler) http.Handler{ // outermost first; see middleware.go
		requestID,
		clientIP(proxies(s.cfg.HTTP.TrustedProxies)),
		s.observe,
		s.recoverer,
		secure,
		newCORS(s.cfg.HTTP.CORSOrigins),
		s.limitBody(maxBody),
	}
	var h http.Handler = &router{mux: s.mux, s: s}
	for i := len(chain) - 1; i >= 0; i-- {
		if chain[i] != nil {
			h = chain[i](h)
		}
	}
	s.handler = h
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// SetDraining makes /health/ready answer 503 "draining" from now on: the node is shutting down.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Routes lists the patterns of routes.go in the order they are registered ("GET /health", ...).
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// handle registers one route. Every route goes through here (routes.go), so the list Routes returns
// is complete. Before the handler runs, the pattern is recorded in the request state, where the
// access log, the metrics and the error reports find it.
func (s *Server) handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := stateFrom(r.Context()); st != nil {
			st.pattern = pattern
		}
		h.ServeHTTP(w, r)
	}))
	s.routes = append(s.routes, pattern)
}

// adapt turns a handler that returns an error into an http.Handler: the error, if any, is answered
// with writeError. Handlers that have already written their answer return nil.
func (s *Server) adapt(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}
