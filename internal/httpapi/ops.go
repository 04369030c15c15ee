package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/requestid"
)

// Check is one dependency that readiness reports on. Run returns nil when the dependency answers;
// it must respect ctx, which carries the per-check timeout.
// An Optional check that is down is reported, and the node answers 200 "degraded" rather than 503:
// for dependencies (like the mail server) whose outage delays work without stopping the service.
type Check struct {
	Name     string
	Run      func(ctx context.Context) error
	Optional bool
}

// DefaultCheckTimeout bounds each readiness check unless Deps.CheckTimeout says otherwise.
const DefaultCheckTimeout = 2 * time.Second

type healthBody struct {
	Status string `json:"status"`
}

// handleHealth answers liveness: the process runs and serves HTTP. It checks nothing else, so that an
// orchestrator does not restart a node because its database is down.
func (s *Server) handleHealth() http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		return Encode(w, http.StatusOK, healthBody{Status: "ok"})
	})
}

type readiness struct {
	Status string                 `json:"status"`
	Checks map[string]checkResult `json:"checks,omitempty"`
}

type checkResult struct {
	Status    string  `json:"status"`
	LatencyMS float64 `json:"latency_ms"`
	Optional  bool    `json:"optional,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// handleReady answers readiness: every check runs concurrently within its timeout; a required check
// down gives 503, an optional one down gives 200 "degraded". From SetDraining on it answers 503 "draining" at once, so that load balancers stop sending
// new requests before the listener closes. Why a check failed is logged, not shown: the endpoint is
// public and error texts name internal hosts.
func (s *Server) handleReady() http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		if s.draining.Load() {
			markExpected5xx(r.Context())
			return Encode(w, http.StatusServiceUnavailable, readiness{Status: "draining"})
		}
		results := s.runChecks(r.Context())
		body := readiness{Status: "ready", Checks: results}
		status := http.StatusOK
		for _, res := range results {
			switch {
			case res.Status == "up":
			case res.Optional:
				if status == http.StatusOK {
					body.Status = "degraded"
				}
			default:
				body.Status, status = "not_ready", http.StatusServiceUnavailable
			}
		}
		if status != http.StatusOK {
			markExpected5xx(r.Context())
		}
		return Encode(w, status, body)
	})
}

func (s *Server) runChecks(ctx context.Context) map[string]checkResult {
	results := make(map[string]checkResult, len(s.checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range s.checks {
		wg.Go(func() {
			res := s.runCheck(ctx, c)
			mu.Lock()
			results[c.Name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}

func (s *Server) runCheck(ctx context.Context, c Check) (res checkResult) {
	ctx, cancel := context.WithTimeout(ctx, s.checkTimeout)
	defer cancel()
	start := s.now()
	err := safeRun(ctx, c.Run)
	res.LatencyMS = float64(s.now().Sub(start).Microseconds()) / 1000
	res.Optional = c.Optional
	if res.LatencyMS < 0 {
		res.LatencyMS = 0
	}
	if err == nil {
		res.Status = "up"
		return res
	}
	res.Status, res.Error = "down", "failed"
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		res.Error = "timeout"
	}
	s.logger.LogAttrs(ctx, slog.LevelWarn, "readiness check failed",
		slog.String("check", c.Name),
		slog.String("request_id", requestid.FromContext(ctx)),
		slog.Any("err", err))
	return res
}

// safeRun runs a check, turning a panic into an error: a broken check makes the node not ready, it
// does not take the request down with it.
func safeRun(ctx context.Context, run func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError{v}
		}
	}()
	if run == nil {
		return errors.New("check has no Run function")
	}
	return run(ctx)
}

type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprint("check panicked: ", p.v) }

type statusBody struct {
	Name          string            `json:"name"`
	Version       string            `json:"version"`
	Commit        string            `json:"commit"`
	Environment   string            `json:"environment"`
	StartedAt     time.Time         `json:"started_at"`
	UptimeSeconds int64             `json:"uptime_seconds"`
	GoVersion     string            `json:"go_version"`
	Backends      map[string]string `json:"backends"`
}

// handleStatus reports what this node runs: version, commit, uptime, environment and backends.
func (s *Server) handleStatus() http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		uptime := s.now().Sub(s.started)
		if uptime < 0 {
			uptime = 0
		}
		backends := s.backends
		if backends == nil {
			backends = map[string]string{}
		}
		return Encode(w, http.StatusOK, statusBody{
			Name:          "gatehouse",
			Version:       s.version,
			Commit:        s.commit,
			Environment:   s.cfg.Env,
			StartedAt:     s.started.UTC(),
			UptimeSeconds: int64(uptime / time.Second),
			GoVersion:     runtime.Version(),
			Backends:      backends,
		})
	})
}
