package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// A Workload is one named load pattern: a set-up step that prepares whatever data the requests need
// (accounts to sign in to, tokens to refresh) and returns the function that builds each request.
// Adding a workload is adding one entry to Builtin; docs/load-testing.md shows an example.
type Workload struct {
	Name        string
	Description string
	// Setup runs once, before the warm-up and outside any measurement. State the requests need lives
	// in the returned function's closure.
	Setup func(ctx context.Context, env Env) (RequestFunc, error)
}

// RequestFunc builds the call that worker makes as its iteration-th request. It is called
// concurrently by different workers; a given worker index is never used by two requests at once, and
// (worker, iteration) pairs never repeat within a run (the warm-up included), so they can make data
// unique, and per-worker state needs no lock. It must bind the request to ctx, which ends when the
// measured window closes. An error stops the run: it means a bug or exhausted data.
type RequestFunc func(ctx context.Context, worker int, iteration uint64) (Call, error)

// Call is one request and what counts as its success.
type Call struct {
	Request *http.Request
	Want    int // the status that counts as success
	// Then, when set, receives the body of a response with the Want status, before the same worker
	// builds its next request: for state carried from one request to the next (a rotated refresh
	// token) or for checking the answer. Reading the body is measured; Then is not. An error counts
	// the request as failed (kind "body") and the run goes on.
	Then func(body []byte) error
}

// Env is what a workload's set-up gets to work with.
type Env struct {
	Client  *http.Client // the run's client; set-up requests may use it
	BaseURL *url.URL
	Workers int    // worker indexes run from 0 to Workers-1
	RunID   string // unique per run: prefix data with it so runs against one server never collide
}

// URL resolves an API path such as "/api/v1/status" against the base URL, keeping any path prefix the
// base URL has (http://host/prefix + /health = http://host/prefix/health).
func (e Env) URL(path string) string {
	u := *e.BaseURL
	p, q, _ := strings.Cut(path, "?")
	u.Path = strings.TrimSuffix(u.Path, "/") + p
	u.RawPath = ""
	u.RawQuery = q
	return u.String()
}

// Unique returns a string that no other (worker, iteration) of any run produces, for sign-up e-mail
// addresses, phone suffixes and the like: "<run id>-<worker>-<iteration>".
func (e Env) Unique(worker int, iteration uint64) string {
	return e.RunID + "-" + strconv.Itoa(worker) + "-" + strconv.FormatUint(iteration, 10)
}

// JSONRequest builds a request whose body is v encoded as JSON, with the matching Content-Type.
func JSONRequest(ctx context.Context, method, target string, v any) (*http.Request, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s body: %w", method, target, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, target, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// Static is the set-up of a workload that sends the same body-less request every time and needs no
// data.
func Static(method, path string, wantStatus int) func(context.Context, Env) (RequestFunc, error) {
	return func(_ context.Context, env Env) (RequestFunc, error) {
		tmpl, err := http.NewRequest(method, env.URL(path), nil)
		if err != nil {
			return nil, fmt.Errorf("build %s %s: %w", method, path, err)
		}
		tmpl.Header.Set("Accept", "application/json")
		// WithContext copies the request shallowly; nothing on the way (client, transport) writes
		// to the shared URL or header, so every request may share them.
		return func(ctx context.Context, _ int, _ uint64) (Call, error) {
			return Call{Request: tmpl.WithContext(ctx), Want: wantStatus}, nil
		}, nil
	}
}

// Builtin returns the workload table, a fresh copy on each call: the operations endpoints here, and
// the accounts and tokens workloads of auth.go.
func Builtin() []Workload {
	return append([]Workload{
		{
			Name:        "health",
			Description: "GET /health (liveness): the cost of the HTTP stack and middleware alone",
			Setup:       Static(http.MethodGet, "/health", http.StatusOK),
		},
		{
			Name:        "ready",
			Description: "GET /health/ready: readiness, which checks every backend",
			Setup:       Static(http.MethodGet, "/health/ready", http.StatusOK),
		},
		{
			Name:        "notfound",
			Description: "GET /api/v1/nope, expecting 404: routing miss plus a problem response",
			Setup:       Static(http.MethodGet, "/api/v1/nope", http.StatusNotFound),
		},
		{
			Name:        "status",
			Description: "GET /api/v1/status: version, uptime and backends",
			Setup:       Static(http.MethodGet, "/api/v1/status", http.StatusOK),
		},
	}, append(authWorkloads(), otpWorkloads()...)...)
}

// Find returns the workload with the given name, or an error listing the names there are.
func Find(workloads []Workload, name string) (Workload, error) {
	for _, w := range workloads {
		if w.Name == name {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(Names(workloads), ", "))
}

// Names returns the workload names in alphabetical order.
func Names(workloads []Workload) []string {
	names := make([]string, 0, len(workloads))
	for _, w := range workloads {
		names = append(names, w.Name)
	}
	sort.Strings(names)
	return names
}
