package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/getsentry/sentry-go"
)

// Sentry reports panics and 5xx responses to Sentry (github.com/getsentry/sentry-go), each event
// tagged with the request id, method and route so that it can be matched with the access log and
// with the request id a client quotes. A Sentry built without a DSN, and a nil *Sentry, report
// nothing.
//
// It holds its own client rather than the SDK's global hub: the program keeps no globals.
type Sentry struct {
	client *sentry.Client
}

// NewSentry returns a reporter for dsn (SENTRY_DSN); an empty dsn gives a reporter that does
// nothing. environment and release label the events.
func NewSentry(dsn, environment, release string) (*Sentry, error) {
	if dsn == "" {
		// sentry.NewClient would read SENTRY_DSN itself; only the config package reads the
		// environment, so without a DSN no client is made at all.
		return &Sentry{}, nil
	}
	if environment == "" {
		environment = "unknown"
	}
	if release == "" {
		release = "gatehouse@unknown" // an empty release makes the SDK look for one in the environment
	}
	c, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:              dsn,
		Environment:      environment,
		Release:          release,
		AttachStacktrace: true,
	})
	if err != nil {
		return nil, fmt.Errorf("SENTRY_DSN: %w", err)
	}
	return &Sentry{client: c}, nil
}

// Enabled reports whether events are sent anywhere.
func (s *Sentry) Enabled() bool { return s != nil && s.client != nil }

// Flush waits up to timeout for queued events to be sent and reports whether they all were. Call it
// before the process exits.
func (s *Sentry) Flush(timeout time.Duration) bool {
	if !s.Enabled() {
		return true
	}
	return s.client.Flush(timeout)
}

// Close flushes (up to two seconds) and releases the transport.
func (s *Sentry) Close() {
	if !s.Enabled() {
		return
	}
	s.client.Flush(2 * time.Second)
	s.client.Close()
}

// reportPanic sends a recovered panic, with the stack of the panicking goroutine. It must be called
// from the deferred function that recovered, while that stack is still there.
func (s *Sentry) reportPanic(r *http.Request, st *requestState, v any) {
	if !s.Enabled() {
		return
	}
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelFatal
	ev.Exception = []sentry.Exception{{
		Type:       "panic",
		Value:      fmt.Sprint(v),
		Stacktrace: sentry.NewStacktrace(),
		Mechanism:  &sentry.Mechanism{Type: "gatehouse.httpapi.recover", Handled: sentry.Pointer(false)},
	}}
	s.send(ev, r, st, http.StatusInternalServerError)
}

// reportError sends the cause of a 5xx problem response.
func (s *Sentry) reportError(r *http.Request, st *requestState, err error, status int) {
	if !s.Enabled() {
		return
	}
	ev := s.client.EventFromException(err, sentry.LevelError)
	if n := len(ev.Exception); n > 0 && ev.Exception[n-1].Stacktrace == nil {
		ev.Exception[n-1].Stacktrace = sentry.NewStacktrace()
	}
	s.send(ev, r, st, status)
}

// reportStatus sends a 5xx response that no error or panic explains (a handler wrote it directly).
func (s *Sentry) reportStatus(r *http.Request, st *requestState, status int) {
	if !s.Enabled() {
		return
	}
	route := st.route()
	if route == "" {
		route = "(unmatched)"
	}
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelError
	ev.Message = fmt.Sprintf("%s %s answered %d", r.Method, route, status)
	s.send(ev, r, st, status)
}

func (s *Sentry) send(ev *sentry.Event, r *http.Request, st *requestState, status int) {
	route := ""
	if st != nil {
		route = st.route()
		ev.Tags = map[string]string{"request_id": st.id}
		if id := st.account(); id != "" {
			ev.User = sentry.User{ID: id}
		}
	} else {
		ev.Tags = map[string]string{}
	}
	ev.Tags["method"] = r.Method
	ev.Tags["route"] = route
	ev.Tags["status"] = strconv.Itoa(status)
	if route != "" {
		ev.Transaction = r.Method + " " + route
	}
	// Only what identifies the request: no query string (it can hold tokens and codes), no
	// cookies, no Authorization.
	scheme := "http"
	if r.TLS != nil || (st != nil && st.secure) {
		scheme = "https"
	}
	ev.Request = &sentry.Request{
		URL:     scheme + "://" + r.Host + r.URL.Path,
		Method:  r.Method,
		Headers: map[string]string{"User-Agent": r.UserAgent()},
	}
	s.client.CaptureEvent(ev, &sentry.EventHint{Context: r.Context()}, nil)
}
