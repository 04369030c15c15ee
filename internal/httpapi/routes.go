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

	// Public authentication.
	s.handle("POST /api/v1/auth/register", s.handleRegister())
	s.handle("POST /api/v1/auth/register/phone/start", s.handleRegisterPhoneStart())
	s.handle("POST /api/v1/auth/register/phone/complete", s.handleRegisterPhoneComplete())
	s.handle("POST /api/v1/auth/email/verify", s.handleVerifyEmail())
	s.handle("POST /api/v1/auth/email/verify/resend", s.handleResendVerification())
	s.handle("POST /api/v1/auth/login", s.handleLogin())
	s.handle("POST /api/v1/auth/login/otp/start", s.handleLoginCodeStart())
	s.handle("POST /api/v1/auth/login/otp/complete", s.handleLoginCodeComplete())
	s.handle("POST /api/v1/auth/token/refresh", s.handleRefresh())
	s.handle("POST /api/v1/auth/logout", s.handleLogout())
	s.handle("GET /.well-known/jwks.json", s.handleJWKS())
	s.handle("GET /.well-known/openid-configuration", s.handleOpenIDConfiguration())

	// The signed-in account.
	s.handle("GET /api/v1/account", s.handleGetAccount())
	s.handle("PATCH /api/v1/account", s.handlePatchAccount())
	s.handle("DELETE /api/v1/account", s.handleDeleteAccount())
	s.handle("POST /api/v1/account/phone/start", s.handlePhoneChangeStart())
	s.handle("POST /api/v1/account/phone/complete", s.handlePhoneChangeComplete())
	s.handle("GET /api/v1/account/sessions", s.handleListSessions())
	s.handle("DELETE /api/v1/account/sessions", s.handleRevokeSessions())
	s.handle("DELETE /api/v1/account/sessions/{id}", s.handleRevokeSession())

	// Development only (a 404 elsewhere).
	s.handle("GET /api/v1/dev/outbox", s.handleDevOutbox())

	// Documentation.
	s.handle("GET /api/openapi.json", s.handleOpenAPI())
	s.handle("GET /api/docs", s.handleDocsPage())
	s.handle("GET /api/docs/{asset}", s.handleDocsAsset())
}
