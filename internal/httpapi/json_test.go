package httpapi

import (
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
)

type decodeTarget struct {
	Name    string            `json:"name"`
	Count   int               `json:"count"`
	Tags    []string          `json:"tags"`
	Address *decodeAddress    `json:"address"`
	Extra   map[string]string `json:"extra"`
}

type decodeAddress struct {
	City string `json:"city"`
}

func decodeRequest(body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		contentType string
		wantReason  string // "" for success
		wantField   string
		wantDetail  string
		wantStatus  int
	}{
		{name: "valid", body: `{"name":"a","count":2,"tags":["x"],"address":{"city":"Oslo"}}`, contentType: "application/json"},
		{name: "charset parameter", body: `{"name":"a"}`, contentType: "application/json; charset=utf-8"},
		{name: "upper-case media type", body: `{"name":"a"}`, contentType: "Application/JSON"},
		{name: "surrounding whitespace", body: " \n{\"name\":\"a\"}\n\t ", contentType: "application/json"},
		{name: "no content type", body: `{}`, wantReason: ReasonUnsupportedMediaType, wantField: "Content-Type", wantStatus: 415, wantDetail: "no Content-Type"},
		{name: "form content type", body: `name=a`, contentType: "application/x-www-form-urlencoded", wantReason: ReasonUnsupportedMediaType, wantField: "Content-Type", wantStatus: 415, wantDetail: "application/x-www-form-urlencoded"},
		{name: "json suffix type", body: `{}`, contentType: "application/merge-patch+json", wantReason: ReasonUnsupportedMediaType, wantField: "Content-Type", wantStatus: 415},
		{name: "malformed content type", body: `{}`, contentType: "application/json; ===", wantReason: ReasonUnsupportedMediaType, wantField: "Content-Type", wantStatus: 415},
		{name: "empty", body: ``, contentType: "application/json", wantReason: ReasonMalformedJSON, wantStatus: 400, wantDetail: "empty"},
		{name: "whitespace only", body: "  \n ", contentType: "application/json", wantReason: ReasonMalformedJSON, wantStatus: 400, wantDetail: "empty"},
		{name: "null", body: `null`, contentType: "application/json", wantReason: ReasonMalformedJSON, wantStatus: 400, wantDetail: "null"},
		{name: "array instead of object", body: `[1]`, contentType: "application/json", wantReason: ReasonMalformedJSON, wantStatus: 400, wantDetail: "must be a JSON object"},
		{name: "string instead of object", body: `"x"`, contentType: "application/json", wantReason: ReasonMalformedJSON, wantStatus: 400, wantDetail: "must be a JSON object"},
		{name: "unknown field", body: `{"name":"a","role":"admin"}`, contentType: "application/json", wantReason: ReasonUnknownField, wantField: "role", wantStatus: 400, wantDetail: `"role"`},
		{name: "unknown nested field", body: `{"address":{"zip":"1"}}`, contentType: "application/json", wantReason: ReasonUnknownField, wantField: "zip", wantStatus: 400},
		{name: "trailing object", body: `{"name":"a"}{"name":"b"}`, contentType: "application/json", wantReason: ReasonMalformedJSON, wantStatus: 400, wantDetail: "byte 12"},
		{name: "trailing garbage", body: `{"name":"a"} x`, contentType: "application/json", wantReason: ReasonMalformedJSON, wantStatus: 400, wantDetail: "after the JSON value"},
		{name: "syntax error with offset", body: `{"name": "a",}`, contentType: "application/json", wantReason: ReasonMalformedJSON, wantStatus: 400, wantDetail: "byte 14"},
		{name: "truncated", body: `{"name": "a"`, contentType: "application/json", wantReason: ReasonMalformedJSON, wantStatus: 400, wantDetail: "ends before"},
		{name: "wrong type", body: `{"count":"two"}`, contentType: "application/json", wantReason: ReasonInvalidField, wantField: "count", wantStatus: 400, wantDetail: "an integer, not a string"},
		{name: "wrong nested type", body: `{"address":{"city":5}}`, contentType: "application/json", wantReason: ReasonInvalidField, wantField: "address.city", wantStatus: 400},
		{name: "number out of range", body: `{"count":1e400}`, contentType: "application/json", wantReason: ReasonInvalidField, wantField: "count", wantStatus: 400},
		{name: "wrong element type", body: `{"tags":[1]}`, contentType: "application/json", wantReason: ReasonInvalidField, wantField: "tags", wantStatus: 400},
		{name: "too large", body: `{"name":"` + strings.Repeat("x", decodeHardLimit) + `"}`, contentType: "application/json", wantReason: ReasonRequestTooLarge, wantStatus: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			v, err := Decode[decodeTarget](w, decodeRequest(tt.body, tt.contentType))
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if v.Name != "a" {
					t.Errorf("decoded %+v", v)
				}
				return
			}
			var ge *gatehouse.Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %v (%T), want a *gatehouse.Error", err, err)
			}
			if ge.Reason != tt.wantReason || ge.Field != tt.wantField {
				t.Errorf("reason %q field %q, want %q %q (%v)", ge.Reason, ge.Field, tt.wantReason, tt.wantField, err)
			}
			if got := statusFor(ge.Code, ge.Reason); got != tt.wantStatus {
				t.Errorf("status %d, want %d", got, tt.wantStatus)
			}
			if !strings.Contains(ge.Message, tt.wantDetail) {
				t.Errorf("message %q, want it to mention %q", ge.Message, tt.wantDetail)
			}
		})
	}
}

type validatedBody struct {
	N int `json:"n"`
}

func (v *validatedBody) Validate() error {
	if v.N < 0 {
		return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed, Field: "n", Message: "n must not be negative."}
	}
	return nil
}

func TestDecodeValidates(t *testing.T) {
	if _, err := Decode[validatedBody](httptest.NewRecorder(), decodeRequest(`{"n":1}`, "application/json")); err != nil {
		t.Errorf("valid body: %v", err)
	}
	_, err := Decode[validatedBody](httptest.NewRecorder(), decodeRequest(`{"n":-1}`, "application/json"))
	var ge *gatehouse.Error
	if !errors.As(err, &ge) || ge.Reason != ReasonValidationFailed || ge.Field != "n" {
		t.Errorf("Validate was not applied: %v", err)
	}
}

func TestDecodeOtherTypes(t *testing.T) {
	if v, err := Decode[[]int](httptest.NewRecorder(), decodeRequest(`[1,2]`, "application/json")); err != nil || len(v) != 2 {
		t.Errorf("slice: %v %v", v, err)
	}
	if v, err := Decode[map[string]int](httptest.NewRecorder(), decodeRequest(`{"a":1}`, "application/json")); err != nil || v["a"] != 1 {
		t.Errorf("map: %v %v", v, err)
	}
	if _, err := Decode[map[string]int](httptest.NewRecorder(), decodeRequest(`null`, "application/json")); err == nil {
		t.Error("null map accepted")
	}
}

func TestEncode(t *testing.T) {
	w := httptest.NewRecorder()
	if err := Encode(w, http.StatusCreated, map[string]string{"id": "x"}); err != nil {
		t.Fatal(err)
	}
	if w.Code != 201 || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != "{\"id\":\"x\"}\n" {
		t.Errorf("got %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	w = httptest.NewRecorder()
	if err := Encode(w, http.StatusOK, math.Inf(1)); err == nil {
		t.Error("Encode of +Inf succeeded")
	}
	if w.Body.Len() != 0 || len(w.Header()) != 0 {
		t.Error("Encode wrote something before failing")
	}
}

// FuzzDecode feeds arbitrary bodies to Decode: it must never panic, must either decode or return a
// *gatehouse.Error whose status is 400, 413 or 415, and its message must be valid UTF-8 (it goes into
// a JSON problem).
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","count":1,"tags":["x"],"address":{"city":"c"},"extra":{"k":"v"}}`,
		`{"name":"a"} trailing`, `{"role":"admin"}`, `{"count":"x"}`, `null`, `[]`, ``, `{`, "\xff\xfe",
	} {
		f.Add(seed, "application/json")
	}
	f.Add(`{}`, "text/plain")
	f.Fuzz(func(t *testing.T, body, contentType string) {
		_, err := Decode[decodeTarget](httptest.NewRecorder(), decodeRequest(body, contentType))
		if err == nil {
			return
		}
		var ge *gatehouse.Error
		if !errors.As(err, &ge) {
			t.Fatalf("error %v (%T) is not a *gatehouse.Error", err, err)
		}
		switch status := statusFor(ge.Code, ge.Reason); status {
		case 400, 413, 415:
		default:
			t.Fatalf("status %d for %q: %v", status, body, err)
		}
		if ge.Message == "" || !utf8.ValidString(ge.Message) {
			t.Fatalf("message %q", ge.Message)
		}
	})
}
