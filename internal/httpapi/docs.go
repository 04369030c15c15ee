package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"strings"

	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5/static"
	"github.com/swaggest/swgui/v5emb"

	"github.com/gatehouse/gatehouse"
)

const (
	docsPath    = "/api/docs"
	openAPIPath = "/api/openapi.json"
)

// handleOpenAPI serves the OpenAPI document, converted to JSON once at start.
func (s *Server) handleOpenAPI() http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write(s.openapiJSON)
		return err
	})
}

// docsUI is the interactive documentation: Swagger UI with its assets embedded in the binary
// (github.com/swaggest/swgui/v5emb). The page is rendered once at start; its inline script and style
// are allowed by their hashes in a Content-Security-Policy that loads everything else from this
// origin only.
type docsUI struct {
	page   []byte
	csp    []string
	swgui  http.Handler
	assets map[string]bool
}

func newDocsUI() (*docsUI, error) {
	h := v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       "gatehouse API",
		SwaggerJSON: openAPIPath,
		BasePath:    docsPath,
		SettingsUI: map[string]string{
			// Show the schemas (the Problem schema in particular) below the operations.
			"defaultModelsExpandDepth": "1",
		},
	})
	rec := &bufferWriter{header: http.Header{}}
	req, err := http.NewRequest(http.MethodGet, docsPath, nil)
	if err != nil {
		return nil, err
	}
	h.ServeHTTP(rec, req)
	if rec.status != 0 && rec.status != http.StatusOK {
		return nil, fmt.Errorf("render the docs page: status %d", rec.status)
	}
	d := &docsUI{page: rec.body.Bytes(), swgui: h, assets: map[string]bool{}}
	d.csp = []string{docsCSP(d.page)}
	entries, err := fs.ReadDir(static.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("list the docs assets: %w", err)
	}
	for _, e := range entries {
		d.assets[strings.TrimSuffix(e.Name(), ".gz")] = true
	}
	return d, nil
}

var (
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	inlineStyle  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
)

// docsCSP builds the page's Content-Security-Policy: scripts and styles from this origin plus the
// page's own inline blocks by hash; images also as data: URIs (Swagger UI's icons); requests only to
// this origin (the OpenAPI document and "Try it out").
func docsCSP(page []byte) string {
	hashes := func(re *regexp.Regexp) string {
		var b strings.Builder
		for _, m := range re.FindAllSubmatch(page, -1) {
			sum := sha256.Sum256(m[1])
			b.WriteString(" 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'")
		}
		return b.String()
	}
	return "default-src 'none'" +
		"; script-src 'self'" + hashes(inlineScript) +
		"; style-src 'self'" + hashes(inlineStyle) +
		"; img-src 'self' data:" +
		"; font-src 'self' data:" +
		"; connect-src 'self'" +
		"; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// handleDocsPage serves the documentation page.
func (s *Server) handleDocsPage() http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		h := w.Header()
		h["Content-Security-Policy"] = s.docs.csp
		h.Set("Content-Type", "text/html; charset=utf-8")
		_, err := w.Write(s.docs.page)
		return err
	})
}

// handleDocsAsset serves the page's scripts, style sheets and icons (gzip-compressed when the client
// accepts it). They change only with the binary, so browsers may keep them for an hour.
func (s *Server) handleDocsAsset() http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("asset")
		if !s.docs.assets[name] {
			return gatehouse.Errorf(gatehouse.ENOTFOUND, "There is no documentation asset %q.", truncate(name, 100))
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		s.docs.swgui.ServeHTTP(w, r)
		return nil
	})
}

// bufferWriter is the http.ResponseWriter the docs page is rendered into once.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.header }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferWriter) WriteHeader(code int)        { b.status = code }
