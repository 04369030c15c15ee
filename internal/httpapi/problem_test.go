package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func jsonUnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func TestWriteError(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, logs := newTestServer(t, nil)
	s.now = clock.Now
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
		wantDetail string
		wantFields []string
		wantLogged bool
	}{
		{"invalid", gatehouse.Errorf(gatehouse.EINVALID, "Bad input."), 400, "invalid", "Bad input.", nil, false},
		{"invalid with a field", &gatehouse.Error{Code: gatehouse.EINVALID, Field: "email", Message: "Email is malformed."}, 400, "invalid", "Email is malformed.", []string{"email"}, false},
		{"validation: 422 with every field", &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed, Message: "Invalid fields.",
			Err: errors.Join(
				&gatehouse.Error{Code: gatehouse.EINVALID, Field: "email", Message: "Email is malformed."},
				fmt.Errorf("wrapped: %w", &gatehouse.Error{Code: gatehouse.EINVALID, Field: "password", Message: "Too short."}))},
			422, "validation_failed", "Invalid fields.", []string{"email", "password"}, false},
		{"unauthenticated", gatehouse.Errorf(gatehouse.EUNAUTHENTICATED, "Sign in."), 401, "unauthenticated", "Sign in.", nil, false},
		{"reason becomes the code", &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Reason: "invalid_credentials", Message: "Wrong email or password."}, 401, "invalid_credentials", "Wrong email or password.", nil, false},
		{"forbidden", gatehouse.Errorf(gatehouse.EFORBIDDEN, "No."), 403, "forbidden", "No.", nil, false},
		{"not found", gatehouse.Errorf(gatehouse.ENOTFOUND, "No such user."), 404, "not_found", "No such user.", nil, false},
		{"conflict", gatehouse.Errorf(gatehouse.ECONFLICT, "Email taken."), 409, "conflict", "Email taken.", nil, false},
		{"rate limited", gatehouse.Errorf(gatehouse.ERATELIMITED, "Slow down."), 429, "rate_limited", "Slow down.", nil, false},
		{"unavailable", gatehouse.Wrap(gatehouse.EUNAVAILABLE, "Try later.", errors.New("redis: connection refused")), 503, "unavailable", "Try later.", nil, true},
		{"internal *Error hides its message", gatehouse.Wrap(gatehouse.EINTERNAL, "select * from secrets failed", errors.New("x")), 500, "internal", internalDetail, nil, true},
		{"plain error is internal", errors.New("pq: relation users does not exist"), 500, "internal", internalDetail, nil, true},
		{"unknown code is internal", &gatehouse.Error{Code: "bogus", Message: "secret"}, 500, "internal", internalDetail, nil, true},
		{"wrapped *Error keeps its code", fmt.Errorf("handler: %w", gatehouse.Errorf(gatehouse.ENOTFOUND, "Gone.")), 404, "not_found", "Gone.", nil, false},
		{"bare timeout is unavailable", fmt.Errorf("query: %w", context.DeadlineExceeded), 503, "unavailable", "did not answer in time", nil, true},
		{"nil error", nil, 500, "internal", internalDetail, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(logs.lines(t, "request failed"))
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/x", nil)
			s.writeError(w, r, tt.err)
			if w.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			var p Problem
			if err := jsonUnmarshalStrict(w.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != tt.wantStatus || p.Code != tt.wantCode || !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("problem %+v, want %d %q %q", p, tt.wantStatus, tt.wantCode, tt.wantDetail)
			}
			if p.Type != ProblemTypeBase+tt.wantCode || p.Title != http.StatusText(tt.wantStatus) {
				t.Errorf("type %q title %q", p.Type, p.Title)
			}
			if !p.Timestamp.Equal(clock.Now()) {
				t.Errorf("timestamp %v", p.Timestamp)
			}
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
			}
			if fmt.Sprint(fields) != fmt.Sprint(tt.wantFields) {
				t.Errorf("fields %v, want %v", fields, tt.wantFields)
			}
			if tt.wantStatus == 401 && w.Header().Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
			logged := len(logs.lines(t, "request failed")) - before
			if (logged == 1) != tt.wantLogged || logged > 1 {
				t.Errorf("logged %d times, want logged: %v", logged, tt.wantLogged)
			}
		})
	}
}

func TestWriteErrorClientGone(t *testing.T) {
	s, logs := newTestServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(ctx)
	s.writeError(w, r, fmt.Errorf("query: %w", context.Canceled))
	if w.Code != statusClientClosedRequest {
		t.Errorf("status %d, want %d", w.Code, statusClientClosedRequest)
	}
	if n := len(logs.lines(t, "request failed")); n != 0 {
		t.Errorf("a cancelled request was logged as a failure")
	}
}
