package httpapi

// addRoutes registers every route of the service: one line per method and path, with Go's method
// patterns. The OpenAPI document (openapi/openapi.yaml) describes each one; TestRoutesMatchOpenAPI
// fails when the two disagree. A GET pattern also answers HEAD.
func (s *Server) addRoutes() {
	// Operations.
	s.handle("GET /health", s.handleHealth())
	s.handle("GET /health/ready", s.handleReady())
	s.handle("GET /api/v1/status", s.handleStatus())
	s.handle("GET /metrics", s.handleMetrics())

	// Documentation.
	s.handle("GET /api/openapi.json", s.handleOpenAPI())
	s.handle("GET /api/docs", s.handleDocsPage())
	s.handle("GET /api/docs/{asset}", s.handleDocsAsset())
}
