package token_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoAdapterDependencies keeps the package a domain package: no HTTP, SQL or Redis code in its
// (non-test) dependency graph.
func TestNoAdapterDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH; install Go to run this check")
	}
	for _, pkg := range []string{".", "./tokentest"} {
		out, err := exec.Command(goTool, "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, banned := range []string{"net/http", "database/sql", "github.com/jackc/", "modernc.org/sqlite", "github.com/redis/", "github.com/gatehouse/gatehouse/internal/postgres", "github.com/gatehouse/gatehouse/internal/sqlite", "github.com/gatehouse/gatehouse/internal/redis", "github.com/gatehouse/gatehouse/internal/httpapi"} {
				if dep == banned || strings.HasPrefix(dep, banned+"/") || (strings.HasSuffix(banned, "/") && strings.HasPrefix(dep, banned)) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
