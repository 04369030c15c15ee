package password

import (
	"log/slog"
)

// Redacted is what a Plain shows of itself in logs, formatted output and JSON.
const Redacted = "[redacted]"

// Plain is a plain-text password as received from a client. Request types use it for their password
// fields so that logging or printing a request never reveals the password: slog, fmt (%v, %s, %q,
// %#v) and encoding/json all show "[redacted]". string(p) gives the password itself; decoding JSON
// into a Plain works as for a string.
type Plain string

// LogValue implements slog.LogValuer.
func (Plain) LogValue() slog.Value { return slog.StringValue(Redacted) }

// String implements fmt.Stringer.
func (Plain) String() string { return Redacted }

// GoString implements fmt.GoStringer (%#v).
func (Plain) GoString() string { return `password.Plain("` + Redacted + `")` }

// MarshalJSON implements json.Marshaler: a Plain is never serialised.
func (Plain) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
