package httpapi

import (
	"fmt"
	"net/http"
)

// router is the ServeMux whose own plain-text 404 and 405 answers are turned into problems, keeping
// the Allow header the mux computed for a 405.
type router struct {
	mux *http.ServeMux
	s   *Server
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.mux.ServeHTTP(&unmatchedWriter{ResponseWriter: w, r: r, s: rt.s}, r)
}

// unmatchedWriter intercepts the answer the mux writes when no pattern matched (r.Pattern is still
// empty once the mux has chosen its handler): a 404 or a 405 written by http.Error. Answers of
// matched routes pass through untouched, whatever their status.
type unmatchedWriter struct {
	http.ResponseWriter
	r        *http.Request
	s        *Server
	replaced bool
}

func (u *unmatchedWriter) WriteHeader(code int) {
	if u.r.Pattern != "" || (code != http.StatusNotFound && code != http.StatusMethodNotAllowed) {
		u.ResponseWriter.WriteHeader(code)
		return
	}
	u.replaced = true
	p := Problem{Status: code}
	if code == http.StatusNotFound {
		p.Code = "not_found"
		p.Detail = fmt.Sprintf("There is nothing at %s.", truncate(u.r.URL.Path, 200))
	} else {
		allow := u.Header().Get("Allow")
		p.Code = "method_not_allowed"
		p.Detail = fmt.Sprintf("%s is not allowed on %s; allowed: %s.", truncate(u.r.Method, 20), truncate(u.r.URL.Path, 200), allow)
	}
	u.s.writeProblem(u.ResponseWriter, u.r, p)
}

func (u *unmatchedWriter) Write(b []byte) (int, error) {
	if u.replaced {
		return len(b), nil // the mux's plain-text body; the problem was written instead
	}
	return u.ResponseWriter.Write(b)
}

func (u *unmatchedWriter) Flush() {
	if f, ok := u.ResponseWriter.(http.Flusher); ok && !u.replaced {
		f.Flush()
	}
}

func (u *unmatchedWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }
