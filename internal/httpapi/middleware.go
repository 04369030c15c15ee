package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/rs/cors"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/requestid"
)

// The middleware, outermost first (server.go builds the chain):
//
//	requestID   X-Request-ID kept when well-formed, else a new one; the per-request state
//	clientIP    the client's address (forwarding headers only from trusted proxies) and TLS
//	observe     the access log line and the HTTP metrics, after everything inside has answered
//	recoverer   a panic becomes a 500 problem, logged once with its stack, sent to Sentry
//	secure      security headers, HSTS over TLS, Cache-Control: no-store on API answers
//	cors        the configured origin allow-list (absent when none is configured)
//	limitBody   the body limit: 413 problem
//	router      the ServeMux, its 404 and 405 answers turned into problems
//
// observe sits outside recoverer so that the log and the metrics see the 500 a panic becomes, and
// outside secure, cors and limitBody so that they see every answer those give.

// requestID takes the client's X-Request-ID when it is well-formed (so a request can be followed from
// the load balancer on), makes a new one otherwise, sets it on the response, and puts it and the
// per-request state into the context.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestid.Header)
		if !requestid.Valid(id) {
			id = requestid.New()
		}
		w.Header().Set(requestid.Header, id)
		st := &requestState{id: id}
		ctx := context.WithValue(requestid.NewContext(r.Context(), id), stateKey{}, st)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// clientIP records the client's address and whether it came over TLS (see proxies.client).
func clientIP(p proxies) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if st := stateFrom(r.Context()); st != nil {
				st.clientIP, st.secure = p.client(r)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// observe writes one access log line per request and records the HTTP metrics. Successful health
// probes, which load balancers send every few seconds, are logged at debug level.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateFrom(r.Context())
		start := s.now()
		rec := &recorder{ResponseWriter: w}
		if st != nil {
			st.rec = rec
		} else {
			st = &requestState{}
		}
		s.metrics.inFlight.Inc()
		defer func() {
			s.metrics.inFlight.Dec()
			status := rec.status
			if status == 0 {
				status = http.StatusOK // what net/http sends for a handler that writes nothing
			}
			elapsed := s.now().Sub(start)
			route := st.route()
			s.metrics.observe(r.Method, route, status, elapsed)
			s.logAccess(r, st, route, status, rec.bytes, elapsed)
			if status >= 500 && status != statusClientClosedRequest && !st.isExpected5xx() && !st.markReported() {
				s.sentry.reportStatus(r, st, status)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

func (s *Server) logAccess(r *http.Request, st *requestState, route string, status int, bytes int64, elapsed time.Duration) {
	level := slog.LevelInfo
	if status < 400 && (route == "/health" || route == "/health/ready") {
		level = slog.LevelDebug
	}
	ctx := r.Context()
	if !s.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs, slog.String("method", r.Method))
	if route != "" {
		attrs = append(attrs, slog.String("route", route))
	} else {
		// No route matched: the path is what tells a typo from a scanner. Only then is it logged, as
		// matched paths can carry ids, and the query string (tokens, codes) never is.
		attrs = append(attrs, slog.String("path", truncate(r.URL.Path, 200)))
	}
	attrs = append(attrs,
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.Int64("bytes", bytes),
		slog.String("request_id", st.id),
	)
	if st.clientIP.IsValid() {
		attrs = append(attrs, slog.String("client_ip", st.clientIP.String()))
	}
	if id := st.account(); id != "" {
		attrs = append(attrs, slog.String("account_id", id))
	}
	s.logger.LogAttrs(ctx, level, "http request", attrs...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// recoverer turns a panic into a 500 problem. The panic value and stack are logged once, with the
// request id, and sent to Sentry; the client only gets the generic problem. When the handler had
// already started its answer, the connection is aborted instead, so the client sees a broken
// response rather than a truncated one that looks whole.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // the sentinel is compared as net/http does
				panic(v)
			}
			st := stateFrom(r.Context())
			s.logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("request_id", requestid.FromContext(r.Context())),
				slog.String("method", r.Method),
				slog.String("route", routeOf(st)),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if st == nil || !st.markReported() {
				s.sentry.reportPanic(r, st, v)
			}
			if st != nil && st.rec != nil && st.rec.status != 0 {
				panic(http.ErrAbortHandler)
			}
			s.writeProblem(w, r, Problem{Status: http.StatusInternalServerError, Code: gatehouse.EINTERNAL, Detail: internalDetail})
		}()
		next.ServeHTTP(w, r)
	})
}

// Security header values. Each is a one-element slice assigned straight into the header map; the
// full slice expression keeps its capacity at one, so a later Header().Add copies instead of
// writing into the shared array.
var (
	hdrNosniff     = []string{"nosniff"}[:1:1]
	hdrFrameDeny   = []string{"DENY"}[:1:1]
	hdrNoReferrer  = []string{"no-referrer"}[:1:1]
	hdrCOOP        = []string{"same-origin"}[:1:1]
	hdrPermissions = []string{"accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"}[:1:1]
	// apiCSP fits answers that are not pages (JSON, problems, metrics): nothing may load, and no one
	// may frame them. Pages set their own policy (see docs.go).
	hdrAPICSP  = []string{"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}[:1:1]
	hdrHSTS    = []string{"max-age=63072000; includeSubDomains"}[:1:1]
	hdrNoStore = []string{"no-store"}[:1:1]
)

// secure sets the security headers every answer carries. Handlers may replace them (the docs page
// sets its own Content-Security-Policy).
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = hdrNosniff
		h["X-Frame-Options"] = hdrFrameDeny
		h["Referrer-Policy"] = hdrNoReferrer
		h["Cross-Origin-Opener-Policy"] = hdrCOOP
		h["Permissions-Policy"] = hdrPermissions
		h["Content-Security-Policy"] = hdrAPICSP
		if st := stateFrom(r.Context()); (st != nil && st.secure) || r.TLS != nil {
			h["Strict-Transport-Security"] = hdrHSTS
		}
		if p := r.URL.Path; strings.HasPrefix(p, "/api/") || p == "/health" || strings.HasPrefix(p, "/health/") {
			h["Cache-Control"] = hdrNoStore
		}
		next.ServeHTTP(w, r)
	})
}

// newCORS returns the CORS middleware for the allowed origins, or nil when there are none: then no
// answer carries CORS headers and browsers keep their same-origin rule. Credentials (the cookie mode)
// are allowed for listed origins, never with the "*" wildcard.
func newCORS(origins []string) func(http.Handler) http.Handler {
	if len(origins) == 0 {
		return nil
	}
	c := cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders:   []string{"Authorization", "Content-Type", requestid.Header, "X-CSRF-Token", "Idempotency-Key"},
		ExposedHeaders:   []string{requestid.Header, "Retry-After", "RateLimit", "RateLimit-Policy", "Location", "WWW-Authenticate"},
		MaxAge:           600,
		AllowCredentials: !slices.Contains(origins, "*"),
	})
	return func(next http.Handler) http.Handler {
		h := c.Handler(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				// A preflight is answered here, before routing: label it for logs and metrics.
				if st := stateFrom(r.Context()); st != nil {
					st.pattern = "OPTIONS (preflight)"
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

// limitBody bounds request bodies to max bytes: a declared Content-Length over it is refused at once
// with a 413 problem, and a body that turns out longer fails to read (Decode answers 413).
func (s *Server) limitBody(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				s.writeError(w, r, tooLarge(max))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
}

func tooLarge(max int64) error {
	return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonRequestTooLarge,
		Message: fmt.Sprintf("The request body is larger than %d bytes.", max)}
}

// recorder remembers the status and the size of an answer for the access log and the metrics.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers flush through the recorder.
func (w *recorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
