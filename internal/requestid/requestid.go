// Package requestid owns the request id: the X-Request-ID header a request arrives with (or a new id
// when it has none or a malformed one), carried in the request's context so that logs, problem
// responses, error reports and outgoing HTTP calls (SMS gateways, webhooks) all name the same request.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/google/uuid"
)

// Header is the HTTP header that carries the request id in both directions.
const Header = "X-Request-ID"

// MaxLen is the longest request id accepted from a client.
const MaxLen = 128

type ctxKey struct{}

// NewContext returns a copy of ctx that carries id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the request id carried by ctx, or "" when there is none.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Valid reports whether id is a well-formed request id: 1 to MaxLen characters, each a letter, a
// digit or one of ". _ : -". The set is narrow on purpose: an id is echoed in headers and written to
// logs, so it must not be able to carry spaces, quotes or control characters.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '-':
		default:
			return false
		}
	}
	return true
}

// New returns a fresh request id: a UUIDv7, so that ids sort by creation time. Should the system's
// random source fail for UUIDv7, it falls back to 16 random bytes in hex, and crypto/rand never
// returns an error on the platforms Go supports.
func New() string {
	if u, err := uuid.NewV7(); err == nil {
		return u.String()
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Transport is an http.RoundTripper that copies the request id from the outgoing request's context
// into its X-Request-ID header, so that the services gatehouse calls can log the same id. A header
// the caller already set is left as it is.
type Transport struct {
	// Base sends the request; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper. It does not modify req (as the interface requires): it
// sends a shallow copy with its own header map.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	id := FromContext(req.Context())
	if id == "" || req.Header.Get(Header) != "" {
		return base.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	out.Header.Set(Header, id)
	return base.RoundTrip(out)
}
