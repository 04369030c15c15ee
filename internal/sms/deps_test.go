package sms

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoStorageDependencies keeps the package on the domain side: it may speak HTTP to providers
// (it is an adapter of the outside world, like internal/mail), but no SQL, Redis or store adapter
// code is in its (non-test) dependency graph. (database/sql/driver comes with google/uuid and is
// only an interface package.)
func TestNoStorageDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH; install Go to run this check")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	banned := []string{
		"database/sql", "github.com/jackc/", "modernc.org/sqlite", "github.com/redis/",
		"github.com/gatehouse/gatehouse/internal/postgres", "github.com/gatehouse/gatehouse/internal/sqlite",
		"github.com/gatehouse/gatehouse/internal/redis", "github.com/gatehouse/gatehouse/internal/memory",
		"github.com/gatehouse/gatehouse/internal/httpapi",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			if dep == b || (strings.HasPrefix(dep, b+"/") && b != "database/sql") || (strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b)) {
				t.Errorf("internal/sms depends on %s", dep)
			}
		}
	}
}
