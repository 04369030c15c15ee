package redis

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	// Several tests make go-redis fail on purpose; keep its process-wide logger quiet.
	SetLibraryLogger(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSetLibraryLogger(t *testing.T) {
	var out lockedBuffer
	SetLibraryLogger(slog.New(slog.NewTextHandler(&out, nil)))
	t.Cleanup(func() { SetLibraryLogger(slog.New(slog.DiscardHandler)) })

	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	_ = c.Ping(context.Background()).Err()
	got := out.String()
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "component=go-redis") ||
		!strings.Contains(got, "127.0.0.1:1") {
		t.Fatalf("go-redis's message did not reach the logger as a warning; got %q", got)
	}
}
