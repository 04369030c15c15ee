package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jobs"
	"github.com/gatehouse/gatehouse/internal/records"
)

// httpMetrics are the request metrics, labelled by route pattern (never the raw path, whose ids
// would make a label per request) and method.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_http_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
	}
	m.requests = registerOrExisting(reg, m.requests)
	m.duration = registerOrExisting(reg, m.duration)
	m.inFlight = registerOrExisting(reg, m.inFlight)
	return m
}

// registerOrExisting registers c, or returns the equal collector already registered (two Servers
// sharing a registry, as tests do, share the metrics).
func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("httpapi: register metrics: %v", err))
	}
	return c
}

func (m *httpMetrics) observe(method, route string, status int, elapsed time.Duration) {
	method = metricMethod(method)
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// metricMethod keeps the method label to the standard methods: a client can send any token.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// storeCollector exports the database pool and the job queue as gauges, read at scrape time.
type storeCollector struct {
	pool  func() records.PoolStats
	queue func(context.Context) (jobs.Stats, error)
	// timeout bounds the queue count at each scrape.
	timeout time.Duration

	poolMax, poolOpen, poolInUse, poolIdle, poolWaits, poolWaitSeconds *prometheus.Desc
	jobs, jobsUp                                                       *prometheus.Desc
}

func newStoreCollector(pool func() records.PoolStats, queue func(context.Context) (jobs.Stats, error)) *storeCollector {
	return &storeCollector{
		pool: pool, queue: queue, timeout: 2 * time.Second,
		poolMax:         prometheus.NewDesc("gatehouse_db_pool_max_connections", "Largest number of connections the database pool may open.", nil, nil),
		poolOpen:        prometheus.NewDesc("gatehouse_db_pool_open_connections", "Connections open in the database pool.", nil, nil),
		poolInUse:       prometheus.NewDesc("gatehouse_db_pool_in_use_connections", "Connections of the database pool in use.", nil, nil),
		poolIdle:        prometheus.NewDesc("gatehouse_db_pool_idle_connections", "Idle connections of the database pool.", nil, nil),
		poolWaits:       prometheus.NewDesc("gatehouse_db_pool_waits_total", "Times a query waited for a free connection.", nil, nil),
		poolWaitSeconds: prometheus.NewDesc("gatehouse_db_pool_wait_seconds_total", "Time spent waiting for a free connection.", nil, nil),
		jobs:            prometheus.NewDesc("gatehouse_jobs", "Jobs in the durable queue by state (failed: exhausted their attempts and kept).", []string{"state"}, nil),
		jobsUp:          prometheus.NewDesc("gatehouse_jobs_stats_up", "1 when the job queue could be counted at this scrape, else 0.", nil, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.pool != nil {
		for _, d := range []*prometheus.Desc{c.poolMax, c.poolOpen, c.poolInUse, c.poolIdle, c.poolWaits, c.poolWaitSeconds} {
			ch <- d
		}
	}
	if c.queue != nil {
		ch <- c.jobs
		ch <- c.jobsUp
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.pool != nil {
		p := c.pool()
		ch <- prometheus.MustNewConstMetric(c.poolMax, prometheus.GaugeValue, float64(p.MaxConns))
		ch <- prometheus.MustNewConstMetric(c.poolOpen, prometheus.GaugeValue, float64(p.OpenConns))
		ch <- prometheus.MustNewConstMetric(c.poolInUse, prometheus.GaugeValue, float64(p.InUse))
		ch <- prometheus.MustNewConstMetric(c.poolIdle, prometheus.GaugeValue, float64(p.Idle))
		ch <- prometheus.MustNewConstMetric(c.poolWaits, prometheus.CounterValue, float64(p.WaitCount))
		ch <- prometheus.MustNewConstMetric(c.poolWaitSeconds, prometheus.CounterValue, p.WaitDuration.Seconds())
	}
	if c.queue != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		st, err := c.queue(ctx)
		if err != nil {
			ch <- prometheus.MustNewConstMetric(c.jobsUp, prometheus.GaugeValue, 0)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.jobsUp, prometheus.GaugeValue, 1)
		for _, s := range []struct {
			state string
			n     int64
		}{
			{"available", st.Available}, {"scheduled", st.Scheduled}, {"retryable", st.Retryable},
			{"running", st.Running}, {"failed", st.Failed}, {"completed", st.Completed},
		} {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(s.n), s.state)
		}
	}
}

// handleMetrics serves the registry in the Prometheus formats. With a token configured it requires
// "Authorization: Bearer <token>"; with metrics disabled the path is a 404 like any unknown one.
func (s *Server) handleMetrics() http.Handler {
	prom := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s.logger},
		ErrorHandling: promhttp.ContinueOnError,
	})
	token := []byte(s.cfg.Metrics.Token)
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		if !s.cfg.Metrics.Enabled {
			return gatehouse.Errorf(gatehouse.ENOTFOUND, "There is nothing at %s.", r.URL.Path)
		}
		if len(token) > 0 {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), token) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				return gatehouse.Errorf(gatehouse.EUNAUTHENTICATED, "The metrics token is missing or wrong.")
			}
		}
		prom.ServeHTTP(w, r)
		return nil
	})
}

// promLogger passes promhttp's error messages to the logger.
type promLogger struct{ l *slog.Logger }

func (p promLogger) Println(v ...any) { p.l.Warn("metrics: " + fmt.Sprint(v...)) }

// registerRuntimeCollectors adds the Go runtime and process collectors, unless the registry has them.
func registerRuntimeCollectors(reg prometheus.Registerer) {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(fmt.Sprintf("httpapi: register runtime metrics: %v", err))
			}
		}
	}
}
