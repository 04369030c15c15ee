package jobs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

type pingArgs struct{ N int }

func (pingArgs) Kind() string { return "jobs_test_ping" }

var errTest = errors.New("test")

type pongArgs struct{}

func (pongArgs) Kind() string { return "jobs_test_pong" }

func TestHandle(t *testing.T) {
	w := NewWorkers()
	if !w.empty() {
		t.Fatal("new registry is not empty")
	}
	if !(*Workers)(nil).empty() {
		t.Fatal("nil registry is not empty")
	}
	noop := func(context.Context, Work[pingArgs]) error { return nil }
	if err := Handle(w, noop); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if err := Handle(w, func(context.Context, Work[pongArgs]) error { return errTest }); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got, want := w.Kinds(), []string{"jobs_test_ping", "jobs_test_pong"}; !slices.Equal(got, want) {
		t.Errorf("Kinds = %v, want %v", got, want)
	}
	err := Handle(w, noop)
	if err == nil || !strings.Contains(err.Error(), "jobs_test_ping") {
		t.Errorf("registering a kind twice: err = %v, want an error naming the kind", err)
	}
	if w.empty() {
		t.Error("registry with handlers reports empty")
	}
}

func TestRiverLoggerDropsBelowWarn(t *testing.T) {
	var buf bytes.Buffer
	l := riverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Info("River client started")
	l.Debug("fetching")
	l.With("a", 1).WithGroup("g").Info("grouped info")
	l.Warn("leader gone")
	l.Error("job failed")
	out := buf.String()
	for _, dropped := range []string{"client started", "fetching", "grouped info"} {
		if strings.Contains(out, dropped) {
			t.Errorf("log kept %q below warn:\n%s", dropped, out)
		}
	}
	for _, kept := range []string{"leader gone", "job failed", "component=river"} {
		if !strings.Contains(out, kept) {
			t.Errorf("log lost %q:\n%s", kept, out)
		}
	}
}
