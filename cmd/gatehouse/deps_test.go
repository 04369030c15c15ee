package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces the layering in docs/architecture.md: the packages that define
// the domain's vocabulary and interfaces import no HTTP stack, SQL driver, Redis client or adapter.
func TestDependencyDirection(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	const mod = "github.com/gatehouse/gatehouse"
	domain := []string{
		mod,
		mod + "/internal/ephemeral",
		mod + "/internal/records",
		mod + "/internal/config",
	}
	forbidden := []string{
		"net/http",
		"database/sql",
		"github.com/jackc/pgx",
		"github.com/redis/go-redis",
		"modernc.org/sqlite",
		mod + "/internal/httpapi",
		mod + "/internal/sqlite",
		mod + "/internal/postgres",
		mod + "/internal/memory",
		mod + "/internal/redis",
		mod + "/cmd/",
	}
	for _, pkg := range domain {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f)) {
					t.Errorf("%s depends on %s; domain packages must not (see docs/architecture.md)", pkg, dep)
				}
			}
		}
	}
}
