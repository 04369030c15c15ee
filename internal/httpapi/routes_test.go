package httpapi

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/openapi"
)

// TestRoutesMatchOpenAPI fails when a route of routes.go is missing from the OpenAPI document or a
// documented operation has no route. Paths compare by pattern: {id} and {user_id} are the same.
func TestRoutesMatchOpenAPI(t *testing.T) {
	s, _ := newTestServer(t, nil)
	doc, err := openapi.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[normalizePattern(method, path)] = method + " " + path
		}
	}
	routed := map[string]string{}
	for _, p := range s.Routes() {
		method, path, ok := strings.Cut(p, " ")
		if !ok || method == "" || !strings.HasPrefix(path, "/") {
			t.Errorf("route %q does not name a method and a path", p)
			continue
		}
		routed[normalizePattern(method, path)] = p
	}
	var missing, extra []string
	for k, p := range routed {
		if _, ok := documented[k]; !ok {
			missing = append(missing, p)
		}
	}
	for k, op := range documented {
		if _, ok := routed[k]; !ok {
			extra = append(extra, op)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, p := range missing {
		t.Errorf("route %q (routes.go) is not in openapi/openapi.yaml", p)
	}
	for _, op := range extra {
		t.Errorf("operation %q (openapi/openapi.yaml) has no route in routes.go", op)
	}
	if len(routed) == 0 {
		t.Error("no routes")
	}
}

func TestNormalizePattern(t *testing.T) {
	tests := []struct{ method, path, want string }{
		{"GET", "/health", "GET /health"},
		{"GET", "/api/v1/users/{id}", "GET /api/v1/users/{}"},
		{"GET", "/api/v1/users/{user_id}/sessions/{sid}", "GET /api/v1/users/{}/sessions/{}"},
		{"GET", "/files/{path...}", "GET /files/{}"},
		{"GET", "/{$}", "GET /"},
		{"GET", "/broken/{x", "GET /broken/{x"},
	}
	for _, tt := range tests {
		if got := normalizePattern(tt.method, tt.path); got != tt.want {
			t.Errorf("normalizePattern(%q, %q) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

// normalizePattern reduces a ServeMux pattern or an OpenAPI path to a form in which the two compare:
// the method and path, every {wildcard} as {}. "GET /api/v1/users/{id}" and "/api/v1/users/{user_id}"
// with method GET both become "GET /api/v1/users/{}".
func normalizePattern(method, path string) string {
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	path = strings.TrimSuffix(path, "{$}")
	for {
		i := strings.IndexByte(path, '{')
		if i < 0 {
			b.WriteString(path)
			break
		}
		j := strings.IndexByte(path[i:], '}')
		if j < 0 {
			b.WriteString(path)
			break
		}
		b.WriteString(path[:i])
		b.WriteString("{}")
		path = path[i+j+1:]
	}
	return b.String()
}
