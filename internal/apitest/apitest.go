// Package apitest is the end-to-end test client: it sends requests to a running gatehouse and checks
// every request and every response against the OpenAPI document (openapi/openapi.yaml) with
// kin-openapi's openapi3filter, failing the test on any mismatch. A test that passes through it
// therefore also proves the document true.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/gatehouse/gatehouse/openapi"
)

// Client sends requests to one gatehouse and validates them and their responses against the
// OpenAPI document.
type Client struct {
	t    testing.TB
	base *url.URL
	// HTTP is the underlying client; its transport validates. It does not follow redirects, so
	// that tests see them.
	HTTP *http.Client
	// Header is sent with every request (an Authorization header, for example).
	Header http.Header

	v *validator
}

type validator struct {
	t       testing.TB
	doc     *openapi3.T
	router  routers.Router
	problem *openapi3.Schema
}

// NewClient returns a client for the gatehouse at baseURL ("http://127.0.0.1:8080").
func NewClient(t testing.TB, baseURL string) *Client {
	t.Helper()
	base, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		t.Fatalf("apitest: base URL %q: %v", baseURL, err)
	}
	doc, err := openapi.Load(context.Background())
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("apitest: route the OpenAPI document: %v", err)
	}
	problem := doc.Components.Schemas["Problem"]
	if problem == nil || problem.Value == nil {
		t.Fatal("apitest: the OpenAPI document has no Problem schema")
	}
	v := &validator{t: t, doc: doc, router: router, problem: problem.Value}
	return &Client{
		t:      t,
		base:   base,
		Header: http.Header{},
		v:      v,
		HTTP: &http.Client{
			Transport:     &Transport{v: v, Base: http.DefaultTransport, validateRequest: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Timeout:       30 * time.Second,
		},
	}
}

// AllowInvalidRequests returns a copy of c that does not validate its requests, only the responses:
// for tests that send a malformed request on purpose (an unknown field, the wrong content type, a
// path that does not exist) and check the problem that comes back.
func (c *Client) AllowInvalidRequests() *Client {
	cc := *c
	httpc := *c.HTTP
	tr := *(c.HTTP.Transport.(*Transport))
	tr.validateRequest = false
	httpc.Transport = &tr
	cc.HTTP = &httpc
	cc.Header = c.Header.Clone()
	return &cc
}

// Response is a response read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request and returns the response read in full; a transport error fails the test. body
// is nil for none, a []byte or string sent as it is (set the Content-Type in header), or any other
// value sent as JSON with Content-Type: application/json.
func (c *Client) Do(method, path string, body any, header http.Header) *Response {
	c.t.Helper()
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("apitest: encode the request body: %v", err)
		}
		rd = bytes.NewReader(j)
		contentType = "application/json"
	}
	req, err := http.NewRequest(method, c.base.String()+path, rd)
	if err != nil {
		c.t.Fatalf("apitest: %s %s: %v", method, path, err)
	}
	for k, vs := range c.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("apitest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("apitest: %s %s: read the response: %v", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Get sends a GET request.
func (c *Client) Get(path string) *Response {
	c.t.Helper()
	return c.Do(http.MethodGet, path, nil, nil)
}

// Post sends a POST request with body as JSON.
func (c *Client) Post(path string, body any) *Response {
	c.t.Helper()
	return c.Do(http.MethodPost, path, body, nil)
}

// JSON decodes the body into v, failing the test when it is not JSON of that shape.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("apitest: decode the response body: %v\n%s", err, r.Body)
	}
}

// Problem is an RFC 9457 problem as gatehouse writes it.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
	Timestamp string `json:"timestamp"`
	Errors    []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Problem decodes the body as a problem, failing the test when it is not one.
func (r *Response) Problem(t testing.TB) Problem {
	t.Helper()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/problem+json" {
		t.Fatalf("apitest: Content-Type is %q, want application/problem+json; body:\n%s", r.Header.Get("Content-Type"), r.Body)
	}
	var p Problem
	r.JSON(t, &p)
	return p
}

// Transport is the validating http.RoundTripper of a Client, for tests that need their own
// http.Client.
type Transport struct {
	Base            http.RoundTripper
	v               *validator
	validateRequest bool
}

// RoundTrip sends req through Base, validating the request before and the response after.
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t := tr.v.t
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("apitest: read the request body: %w", err)
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	name := req.Method + " " + req.URL.Path

	// The document's paths are matched against a copy: validation reads the body.
	probe := req.Clone(req.Context())
	probe.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, routeErr := tr.v.router.FindRoute(probe)
	var input *openapi3filter.RequestValidationInput
	if routeErr == nil {
		input = &openapi3filter.RequestValidationInput{
			Request:    probe,
			PathParams: params,
			Route:      route,
			Options: &openapi3filter.Options{
				AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
				MultiError:         true,
			},
		}
		if tr.validateRequest {
			if err := openapi3filter.ValidateRequest(req.Context(), input); err != nil {
				t.Errorf("apitest: %s: the request does not match the OpenAPI document: %v", name, err)
			}
		}
	} else if tr.validateRequest {
		t.Errorf("apitest: %s is not in the OpenAPI document: %v", name, routeErr)
	}

	base := tr.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("apitest: read the response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))

	if req.Method == http.MethodHead {
		return resp, nil
	}
	if input == nil {
		// An undocumented route (a deliberately unknown path or method) must answer with a problem.
		if resp.StatusCode < 400 {
			t.Errorf("apitest: %s is not in the OpenAPI document, yet it answered %d", name, resp.StatusCode)
		} else if err := tr.v.checkProblem(resp.Header, body); err != nil {
			t.Errorf("apitest: %s answered %d: %v", name, resp.StatusCode, err)
		}
		return resp, nil
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		t.Errorf("apitest: %s answered %d, which does not match the OpenAPI document: %v\nbody: %s",
			name, resp.StatusCode, err, truncate(body, 2000))
	}
	return resp, nil
}

// checkProblem validates an answer against the document's Problem schema.
func (v *validator) checkProblem(h http.Header, body []byte) error {
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != "application/problem+json" {
		return fmt.Errorf("Content-Type %q, want application/problem+json", h.Get("Content-Type"))
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("the problem is not JSON: %w", err)
	}
	if err := v.problem.VisitJSON(value, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse()); err != nil {
		return fmt.Errorf("the problem does not match the Problem schema: %w", err)
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
