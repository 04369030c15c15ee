package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/otp"
	"github.com/gatehouse/gatehouse/internal/phone"
)

// TestRateLimitHeaders runs the errors of the OTP engine through a handler and checks the status,
// the problem's code, and the Retry-After and RateLimit headers writeError derives from them.
func TestRateLimitHeaders(t *testing.T) {
	cooldown := &otp.LimitError{
		Err:        &gatehouse.Error{Code: gatehouse.ERATELIMITED, Reason: otp.ReasonCooldown, Message: "Wait."},
		RetryAfter: 41*time.Second + time.Millisecond,
		Quota:      otp.RateLimitInfo{Policy: otp.PolicyResend, Limit: 1, Window: 60 * time.Second, Reset: 41*time.Second + time.Millisecond},
	}
	phoneQuota := &otp.LimitError{
		Err:        &gatehouse.Error{Code: gatehouse.ERATELIMITED, Reason: otp.ReasonPhoneQuota, Message: "Too many codes."},
		RetryAfter: 1800 * time.Second,
		Quota:      otp.RateLimitInfo{Policy: otp.PolicyPhone, Limit: 3, Window: time.Hour, Reset: 1800 * time.Second},
	}
	ipQuota := &otp.LimitError{
		Err:        &gatehouse.Error{Code: gatehouse.ERATELIMITED, Reason: otp.ReasonIPQuota, Message: "Too many codes."},
		RetryAfter: 10 * time.Second,
		Quota:      otp.RateLimitInfo{Policy: otp.PolicyIP, Limit: 20, Window: time.Hour, Reset: 10 * time.Second},
	}
	budget := &otp.LimitError{
		Err:        &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Reason: otp.ReasonBudgetExhausted, Message: "Try later."},
		RetryAfter: 3 * time.Hour,
	}
	tests := []struct {
		name                                   string
		err                                    error
		status                                 int
		code                                   string
		retryAfter, rateLimitPolicy, rateLimit string
		logged                                 bool
		fields                                 []string
	}{
		{"cooldown", cooldown, 429, "otp_cooldown", "42", `"otp_resend";q=1;w=60`, `"otp_resend";r=0;t=42`, false, nil},
		{"phone quota, wrapped", fmt.Errorf("register phone start: %w", phoneQuota), 429, "otp_phone_quota", "1800", `"otp_phone";q=3;w=3600`, `"otp_phone";r=0;t=1800`, false, nil},
		{"ip quota", ipQuota, 429, "otp_ip_quota", "10", `"otp_ip";q=20;w=3600`, `"otp_ip";r=0;t=10`, false, nil},
		{"sms budget: 503 without quota, not a fault", budget, 503, "sms_budget_exhausted", "10800", "", "", false, nil},
		{"otp store down", &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Reason: otp.ReasonUnavailable, Message: "Try again."}, 503, "otp_unavailable", "5", "", "", true, nil},
		{"plain 429 has no headers", gatehouse.Errorf(gatehouse.ERATELIMITED, "Slow down."), 429, "rate_limited", "", "", "", false, nil},
		{"country blocked", &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Reason: otp.ReasonCountryBlocked, Message: "No."}, 403, "sms_country_blocked", "", "", "", false, nil},
		{"invalid phone is a 422 naming the field", &gatehouse.Error{Code: gatehouse.EINVALID, Reason: phone.Reason, Field: "identifier", Message: "Not a phone number."}, 422, "invalid_phone", "", "", "", false, []string{"identifier"}},
		{"invalid phone among other fields", errors.Join(
			&gatehouse.Error{Code: gatehouse.EINVALID, Reason: phone.Reason, Field: "phone", Message: "Not a phone number."},
			&gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed, Field: "code", Message: "The code is required."}),
			422, "invalid_phone", "", "", "", false, []string{"phone", "code"}},
		{"wrong code", &gatehouse.Error{Code: gatehouse.EINVALID, Reason: otp.ReasonInvalid, Field: "code", Message: "Wrong."}, 400, "otp_invalid", "", "", "", false, []string{"code"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := newTestServer(t, nil)
			h := s.adapt(func(http.ResponseWriter, *http.Request) error { return tt.err })
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/x", nil))
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			var p Problem
			if err := jsonUnmarshalStrict(w.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Code != tt.code || p.Status != tt.status {
				t.Errorf("problem %d %q, want %d %q", p.Status, p.Code, tt.status, tt.code)
			}
			for _, hv := range []struct{ name, want string }{
				{"Retry-After", tt.retryAfter}, {"RateLimit-Policy", tt.rateLimitPolicy}, {"RateLimit", tt.rateLimit},
			} {
				if got := w.Header().Values(hv.name); strings.Join(got, ",") != hv.want {
					t.Errorf("%s = %q, want %q", hv.name, got, hv.want)
				}
			}
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
			}
			if !slices.Equal(fields, tt.fields) {
				t.Errorf("fields %v, want %v", fields, tt.fields)
			}
			if logged := len(logs.lines(t, "request failed")) > 0; logged != tt.logged {
				t.Errorf("logged as a failure: %v, want %v", logged, tt.logged)
			}
		})
	}
}

// TestWriteCodeSent checks the answer to a request for a code: 202, whole seconds rounded up, and
// no RateLimit headers even when the engine reports the quota (they would tell recently active
// numbers apart).
func TestWriteCodeSent(t *testing.T) {
	w := httptest.NewRecorder()
	err := writeCodeSent(w, account.StartResult{
		ExpiresIn: 5 * time.Minute, ResendAfter: 59*time.Second + 500*time.Millisecond,
		RateLimit: otp.RateLimitInfo{Policy: otp.PolicyPhone, Limit: 3, Window: time.Hour, Remaining: 2, Reset: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusAccepted {
		t.Errorf("status %d, want 202", w.Code)
	}
	if got, want := strings.TrimSpace(w.Body.String()), `{"expires_in":300,"resend_after":60}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
	for _, h := range []string{"RateLimit-Policy", "RateLimit", "Retry-After"} {
		if got := w.Header().Get(h); got != "" {
			t.Errorf("%s %q on a success", h, got)
		}
	}

	w = httptest.NewRecorder()
	if err := writeCodeSent(w, account.StartResult{ExpiresIn: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(w.Body.String()), `{"expires_in":60,"resend_after":0}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
}

// TestPhoneRequestDecoding sends malformed bodies to the public phone and code routes of a real
// Server (whose account service is never reached: every request here is refused before it) and
// checks each problem against the OpenAPI document.
func TestPhoneRequestDecoding(t *testing.T) {
	env := newTestEnv(t, Deps{Auth: &Auth{}}, nil)
	api := env.api.AllowInvalidRequests()
	tests := []struct {
		path, body string
		status     int
		code       string
		fields     []string
	}{
		{"/api/v1/auth/register/phone/start", `{"phone":"+96550000000","role":"admin"}`, 400, "unknown_field", []string{"role"}},
		{"/api/v1/auth/register/phone/start", `{}`, 422, "validation_failed", []string{"phone"}},
		{"/api/v1/auth/register/phone/start", `{"phone":"  "}`, 422, "validation_failed", []string{"phone"}},
		{"/api/v1/auth/register/phone/start", `{"phone":96550000000}`, 400, "invalid_field", []string{"phone"}},
		{"/api/v1/auth/register/phone/complete", `{"phone":"+96550000000","code":"123456","password":"x","roles":["admin"]}`, 400, "unknown_field", []string{"roles"}},
		{"/api/v1/auth/register/phone/complete", `{"name":"Ada"}`, 422, "validation_failed", []string{"phone", "code", "password"}},
		{"/api/v1/auth/register/phone/complete", `{"phone":"+96550000000","password":"correct horse"}`, 422, "validation_failed", []string{"code"}},
		{"/api/v1/auth/login/otp/start", `{"identifier":"ada@example.com","password":"x"}`, 400, "unknown_field", []string{"password"}},
		{"/api/v1/auth/login/otp/start", `{"locale":"en"}`, 422, "validation_failed", []string{"identifier"}},
		{"/api/v1/auth/login/otp/complete", `{"identifier":"ada@example.com","code":"123456","remember":true}`, 400, "unknown_field", []string{"remember"}},
		{"/api/v1/auth/login/otp/complete", `{}`, 422, "validation_failed", []string{"identifier", "code"}},
		{"/api/v1/auth/login/otp/complete", `{"identifier":"ada@example.com"} {}`, 400, "malformed_json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.body, func(t *testing.T) {
			resp := api.Do(http.MethodPost, tt.path, tt.body, http.Header{"Content-Type": {"application/json"}})
			if resp.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.Status, tt.status, resp.Body)
			}
			p := resp.Problem(t)
			if p.Code != tt.code {
				t.Errorf("code %q, want %q", p.Code, tt.code)
			}
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
			}
			if !slices.Equal(fields, tt.fields) {
				t.Errorf("fields %v, want %v", fields, tt.fields)
			}
		})
	}

	t.Run("wrong content type", func(t *testing.T) {
		resp := api.Do(http.MethodPost, "/api/v1/auth/login/otp/start", `identifier=ada`, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
		if resp.Status != http.StatusUnsupportedMediaType {
			t.Errorf("status %d, want 415", resp.Status)
		}
	})
	t.Run("account routes need a sign-in", func(t *testing.T) {
		for _, path := range []string{"/api/v1/account/phone/start", "/api/v1/account/phone/complete"} {
			resp := api.Do(http.MethodPost, path, `{"phone":"+96550000000"}`, http.Header{"Content-Type": {"application/json"}})
			if resp.Status != http.StatusUnauthorized || resp.Problem(t).Code != ReasonNoCredentials {
				t.Errorf("%s: status %d %s, want 401 %s", path, resp.Status, resp.Body, ReasonNoCredentials)
			}
		}
	})
}

// TestPhoneChangeRequestDecoding decodes the bodies of the signed-in phone routes.
func TestPhoneChangeRequestDecoding(t *testing.T) {
	s, _ := newTestServer(t, nil)
	post := func(body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	problem := func(t *testing.T, err error) Problem {
		t.Helper()
		w := httptest.NewRecorder()
		s.writeError(w, post(""), err)
		var p Problem
		if err := jsonUnmarshalStrict(w.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fieldsOf := func(p Problem) []string {
		var out []string
		for _, e := range p.Errors {
			out = append(out, e.Field)
		}
		return out
	}

	t.Run("start", func(t *testing.T) {
		req, err := Decode[phoneCodeRequest](httptest.NewRecorder(), post(`{"phone":"+965 5000 0000","locale":"ar"}`))
		if err != nil || req.Phone != "+965 5000 0000" || req.Locale != "ar" {
			t.Fatalf("Decode = %+v, %v", req, err)
		}
		_, err = Decode[phoneCodeRequest](httptest.NewRecorder(), post(`{"phone":"+96550000000","code":"1"}`))
		if p := problem(t, err); p.Status != 400 || p.Code != ReasonUnknownField || !slices.Equal(fieldsOf(p), []string{"code"}) {
			t.Errorf("unknown field: %+v", p)
		}
		_, err = Decode[phoneCodeRequest](httptest.NewRecorder(), post(`{"locale":"ar"}`))
		if p := problem(t, err); p.Status != 422 || p.Code != ReasonValidationFailed || !slices.Equal(fieldsOf(p), []string{"phone"}) {
			t.Errorf("missing phone: %+v", p)
		}
	})
	t.Run("complete", func(t *testing.T) {
		req, err := Decode[phoneChangeRequest](httptest.NewRecorder(), post(`{"phone":"+96550000000","code":"048213"}`))
		if err != nil || req.Phone != "+96550000000" || req.Code != "048213" {
			t.Fatalf("Decode = %+v, %v", req, err)
		}
		_, err = Decode[phoneChangeRequest](httptest.NewRecorder(), post(`{"phone":"+96550000000","code":"048213","locale":"en"}`))
		if p := problem(t, err); p.Status != 400 || p.Code != ReasonUnknownField || !slices.Equal(fieldsOf(p), []string{"locale"}) {
			t.Errorf("unknown field: %+v", p)
		}
		_, err = Decode[phoneChangeRequest](httptest.NewRecorder(), post(`{}`))
		if p := problem(t, err); p.Status != 422 || !slices.Equal(fieldsOf(p), []string{"phone", "code"}) {
			t.Errorf("missing fields: %+v", p)
		}
	})
}
