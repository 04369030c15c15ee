package phone

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoAdapterDependencies keeps the package a leaf of the domain: no HTTP, SQL or Redis code and
// no other gatehouse package but the root's vocabulary in its (non-test) dependency graph.
func TestNoAdapterDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH; install Go to run this check")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	banned := []string{"net/http", "database/sql", "github.com/jackc/", "modernc.org/sqlite", "github.com/redis/", "github.com/gatehouse/gatehouse/internal/"}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/gatehouse/gatehouse/internal/phone" {
			continue
		}
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") || strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b) {
				t.Errorf("internal/phone depends on %s", dep)
			}
		}
	}
}
