package redis

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"
)

// SetLibraryLogger sends go-redis's own messages (failed dials, Sentinel failovers, dropped pub/sub
// messages) to log at warning level instead of the standard library's logger on stderr. go-redis keeps
// one logger for the whole process, so this is meant to be called once, by the program's start-up,
// not by each store.
func SetLibraryLogger(log *slog.Logger) {
	goredis.SetLogger(libraryLogger{log})
}

type libraryLogger struct{ log *slog.Logger }

func (l libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
}
