package jobs

import (
	"context"
	"log/slog"
)

// minLevelHandler drops records below min: River logs every start, stop and leadership change at
// info, which is noise in our logs; its warnings and errors still come through.
type minLevelHandler struct {
	min   slog.Level
	inner slog.Handler
}

func (h minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.inner.Enabled(ctx, l)
}

func (h minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.inner.Handle(ctx, r)
}

func (h minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevelHandler{min: h.min, inner: h.inner.WithAttrs(attrs)}
}

func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{min: h.min, inner: h.inner.WithGroup(name)}
}

// riverLogger is the logger handed to River: ours, tagged, warn and above only.
func riverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(minLevelHandler{min: slog.LevelWarn, inner: l.Handler()}).With(slog.String("component", "river"))
}
