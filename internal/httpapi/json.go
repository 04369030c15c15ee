package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// Reasons of the errors Decode returns (the problem's `code`).
const (
	ReasonMalformedJSON = "malformed_json" // not JSON, empty, or something after the value
	ReasonUnknownField  = "unknown_field"  // a field the endpoint does not know
	ReasonInvalidField  = "invalid_field"  // a field of the wrong JSON type
)

// decodeHardLimit bounds what Decode reads whatever the configuration says.
const decodeHardLimit = 1 << 20

// validator is implemented by request types that check their own fields after decoding.
type validator interface {
	Validate() error
}

// Decode reads r's body as one JSON value of type T, strictly: the Content-Type must be
// application/json (415), the body must fit the body limit (413), be non-empty, well-formed, hold no
// field T does not know and nothing after the value (400, naming the problem, the field or the byte
// offset). When T has a Validate() error method, Decode calls it and returns its error. Every error
// is a *gatehouse.Error that writeError turns into the right problem.
func Decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return v, err
	}
	// The body limit middleware has already bounded r.Body to the configured size; this second,
	// larger bound keeps Decode safe in front of any handler that is mounted without it.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, decodeHardLimit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return v, &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonRequestTooLarge,
				Message: fmt.Sprintf("The request body is larger than %d bytes.", tooLarge.Limit)}
		}
		return v, fmt.Errorf("read request body: %w", err)
	}
	if err := decodeJSON(body, &v); err != nil {
		return v, err
	}
	if val, ok := any(&v).(validator); ok {
		if err := val.Validate(); err != nil {
			return v, err
		}
	} else if val, ok := any(v).(validator); ok {
		if err := val.Validate(); err != nil {
			return v, err
		}
	}
	return v, nil
}

func checkJSONContentType(ct string) error {
	if ct == "" {
		return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonUnsupportedMediaType, Field: "Content-Type",
			Message: "The request has no Content-Type; it must be application/json."}
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonUnsupportedMediaType, Field: "Content-Type",
			Message: fmt.Sprintf("Content-Type %s is not supported; it must be application/json.", strconv.Quote(ct))}
	}
	return nil
}

func malformed(format string, args ...any) error {
	return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonMalformedJSON, Message: fmt.Sprintf(format, args...)}
}

// decodeJSON decodes body into v (a pointer) with Decode's rules.
func decodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return malformed("The request body is empty; a JSON value is expected.")
	}
	if bytes.Equal(trimmed, []byte("null")) {
		if k := reflect.TypeOf(v).Elem().Kind(); k == reflect.Struct || k == reflect.Map {
			return malformed("The request body is null; a JSON object is expected.")
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, reflect.TypeOf(v).Elem())
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return malformed("Unexpected data after the JSON value at byte %d.", len(body)-len(rest))
	}
	return nil
}

// jsonError turns an encoding/json error into a client-safe *gatehouse.Error.
func jsonError(err error, target reflect.Type) error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return malformed("Malformed JSON at byte %d: %s.", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("Malformed JSON: the body ends before the value is complete.")
	case errors.As(err, &typeErr):
		want := jsonKind(typeErr.Type)
		if typeErr.Field == "" {
			return malformed("The request body must be a JSON %s, not %s.", want, article(typeErr.Value))
		}
		return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonInvalidField, Field: typeErr.Field,
			Message: fmt.Sprintf("Field %q must be %s, not %s.", typeErr.Field, article(want), article(typeErr.Value))}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			name = unq
		}
		return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonUnknownField, Field: name,
			Message: fmt.Sprintf("Unknown field %q.", name)}
	}
	// Anything else comes from a field type's own UnmarshalJSON or UnmarshalText: its message is
	// written for the client.
	if target != nil {
		return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonInvalidField, Message: strings.TrimPrefix(err.Error(), "json: "), Err: err}
	}
	return malformed("Malformed JSON.")
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "value"
}

// article prefixes a JSON type name as encoding/json reports it ("string", "number 1.5", "array").
func article(kind string) string {
	if kind == "" {
		return "a value"
	}
	switch kind[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + kind
	}
	return "a " + kind
}

// Encode writes v as JSON with the given status. It marshals before writing anything, so on error
// (a value JSON cannot represent) nothing was sent and the caller can still answer with a problem.
func Encode(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %T response: %w", v, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
