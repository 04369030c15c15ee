package httpapi

import (
	"context"
	"net/netip"
	"strings"
	"sync"
)

// requestState is what the middleware learns about one request, in one mutable holder that the
// outermost middleware puts into the context. Inner layers fill it in (the route once the mux has
// matched, the account once a later auth middleware has identified it) and the access log, the
// metrics and the error reporter read it when the request is done, without each layer copying the
// request to add a context value.
type requestState struct {
	id       string
	clientIP netip.Addr
	secure   bool   // the client reached us over TLS (directly, or per a trusted proxy)
	pattern  string // the ServeMux pattern that matched, "" when none did
	rec      *recorder

	mu        sync.Mutex
	accountID string
	// reported is set once this request's error has gone to Sentry, so that a 5xx is reported once.
	reported bool
	// expected5xx marks a 5xx answer that is not an error of ours (readiness saying "not ready").
	expected5xx bool
}

type stateKey struct{}

func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// route returns the matched path pattern without its method ("/api/v1/status"), or "" when no route
// matched. It is what logs and metrics label a request with: never the raw path, whose ids would
// make every request a new label.
func (st *requestState) route() string {
	p := st.pattern
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[i+1:]
	}
	return p
}

func (st *requestState) account() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.accountID
}

func (st *requestState) isExpected5xx() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.expected5xx
}

// markReported records that this request's error was sent to Sentry and says whether it already had
// been.
func (st *requestState) markReported() (already bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	already = st.reported
	st.reported = true
	return already
}

// SetAccountID records the signed-in account of the request whose context is ctx, for the access log
// and error reports. The authentication middleware calls it once it has identified the caller. It does
// nothing on a context that did not come through the Server.
func SetAccountID(ctx context.Context, id string) {
	if st := stateFrom(ctx); st != nil {
		st.mu.Lock()
		st.accountID = id
		st.mu.Unlock()
	}
}

// ClientIP returns the client's address as the Server determined it: the TCP peer, or the address a
// trusted proxy forwarded. It is the zero Addr on a context that did not come through the Server.
func ClientIP(ctx context.Context) netip.Addr {
	if st := stateFrom(ctx); st != nil {
		return st.clientIP
	}
	return netip.Addr{}
}

// markExpected5xx tells the middleware that the 5xx about to be written is an answer, not a failure,
// so that it is not reported as an error.
func markExpected5xx(ctx context.Context) {
	if st := stateFrom(ctx); st != nil {
		st.mu.Lock()
		st.expected5xx = true
		st.mu.Unlock()
	}
}
