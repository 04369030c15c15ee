package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/requestid"
	"github.com/gatehouse/gatehouse/internal/session"
)

// Cookie mode: browser clients may ask for their tokens in HttpOnly cookies instead of the response
// body ("use_cookies": true at sign-in). The __Host- prefix pins each cookie to this host, path / and
// HTTPS; SameSite=Lax keeps them off cross-site subrequests; every state-changing request that
// relies on them passes the cross-origin check (csrfCheck).
const (
	accessCookie  = "__Host-gatehouse_access"
	refreshCookie = "__Host-gatehouse_refresh"
)

// Reasons of the authentication layer.
const (
	ReasonCSRF           = "csrf_rejected"
	ReasonSessionRevoked = "session_revoked"
	ReasonNoCredentials  = "unauthenticated"
)

// principal is who an authenticated request acts for.
type principal struct {
	AccountID string
	SessionID string
	Roles     []string
	ViaCookie bool
	// AuthTime is when the user last signed in (the access token's auth_time); zero when the token
	// does not say, which changes that need a recent sign-in take as not recent.
	AuthTime time.Time
}

// clientMeta describes the caller of r for sessions and the audit log.
func clientMeta(r *http.Request) session.ClientMeta {
	ip := ""
	if a := ClientIP(r.Context()); a.IsValid() {
		ip = a.String()
	}
	return session.ClientMeta{UserAgent: truncate(r.UserAgent(), 512), IP: ip}
}

// withAudit puts the request's id, client IP and user agent where the audit recorder finds them.
func withAudit(r *http.Request) *http.Request {
	m := clientMeta(r)
	ctx := audit.WithRequest(r.Context(), audit.RequestMeta{
		RequestID: requestid.FromContext(r.Context()), IP: m.IP, UserAgent: m.UserAgent,
	})
	return r.WithContext(ctx)
}

// errAuthUnavailable answers the authentication routes of a Server built without them (tests of the
// operations endpoints).
var errAuthUnavailable = gatehouse.Errorf(gatehouse.EUNAVAILABLE, "Authentication is not configured on this server.")

// authed wraps a handler that needs a signed-in caller: it reads the access token (bearer header,
// else the access cookie), verifies it, checks the session against the revocation set (failing
// closed when that cannot be checked), applies the cross-origin check to state-changing cookie
// requests, and names the account in the access log.
func (s *Server) authed(fn func(w http.ResponseWriter, r *http.Request, p *principal) error) http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		if s.auth == nil {
			return errAuthUnavailable
		}
		raw, viaCookie, err := s.accessToken(r)
		if err != nil {
			return err
		}
		if viaCookie {
			if err := s.csrfCheck(r); err != nil {
				return err
			}
		}
		claims, err := s.auth.Tokens.Verify(raw)
		if err != nil {
			return err
		}
		revoked, err := s.auth.Revocations.IsRevoked(r.Context(), claims.SessionID)
		if err != nil {
			return gatehouse.Wrap(gatehouse.EUNAVAILABLE, "Sign-in state cannot be checked right now; try again shortly.", err)
		}
		if revoked {
			return &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Reason: ReasonSessionRevoked,
				Message: "This session has ended; sign in again."}
		}
		SetAccountID(r.Context(), claims.Subject)
		return fn(w, withAudit(r), &principal{
			AccountID: claims.Subject, SessionID: claims.SessionID, Roles: claims.Roles, ViaCookie: viaCookie,
			AuthTime: claims.AuthTime,
		})
	})
}

// accessToken finds the access token of r.
func (s *Server) accessToken(r *http.Request) (token string, viaCookie bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
			return "", false, &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Reason: "token_invalid",
				Message: `The Authorization header must be "Bearer <access token>".`}
		}
		return tok, false, nil
	}
	if s.cfg.Cookies.Enabled {
		if c, err := r.Cookie(accessCookie); err == nil && c.Value != "" {
			return c.Value, true, nil
		}
	}
	return "", false, &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Reason: ReasonNoCredentials,
		Message: "Sign in first: send an access token as a Bearer token."}
}

// csrfCheck rejects a state-changing request from another origin: the protection every cookie-mode
// request needs (bearer requests carry their credential explicitly and need none).
func (s *Server) csrfCheck(r *http.Request) error {
	if err := s.crossOrigin.Check(r); err != nil {
		return &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Reason: ReasonCSRF,
			Message: "Cross-origin request refused: cookie-authenticated changes must come from an allowed origin.", Err: err}
	}
	return nil
}

// tokensBody is the answer of every sign-in and refresh.
type tokensBody struct {
	AccessToken  string       `json:"access_token,omitempty"`
	RefreshToken string       `json:"refresh_token,omitempty"`
	TokenType    string       `json:"token_type"`
	ExpiresIn    int64        `json:"expires_in"`
	Account      *accountBody `json:"account,omitempty"`
}

// writeTokens answers with the tokens in the body (bearer mode) or in cookies (cookie mode).
func (s *Server) writeTokens(w http.ResponseWriter, status int, t *account.Tokens, cookies bool) error {
	body := tokensBody{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: "Bearer", ExpiresIn: int64(t.ExpiresIn)}
	if t.Account != nil {
		body.Account = newAccountBody(t.Account)
	}
	if cookies {
		http.SetCookie(w, s.cookie(accessCookie, t.AccessToken, time.Duration(t.ExpiresIn)*time.Second))
		http.SetCookie(w, s.cookie(refreshCookie, t.RefreshToken, s.cfg.Session.AbsoluteLifetime))
		body.AccessToken, body.RefreshToken, body.TokenType = "", "", "cookie"
	}
	return Encode(w, status, body)
}

// cookie builds one of gatehouse's __Host- cookies; maxAge < 0 deletes it.
func (s *Server) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if maxAge < 0 {
		c.Value, c.MaxAge = "", -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

func (s *Server) clearCookies(w http.ResponseWriter) {
	http.SetCookie(w, s.cookie(accessCookie, "", -1))
	http.SetCookie(w, s.cookie(refreshCookie, "", -1))
}

// checkCookieMode refuses cookie mode when it is turned off, and applies the cross-origin check to it.
func (s *Server) checkCookieMode(r *http.Request) error {
	if !s.cfg.Cookies.Enabled {
		return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed, Field: "use_cookies",
			Message: "Cookie mode is turned off on this server."}
	}
	return s.csrfCheck(r)
}

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
	Locale   string `json:"locale"`
}

type acceptedBody struct {
	Message string `json:"message"`
}

// handleRegister creates an account and sends the verification email. Its answer is the same
// whether or not the address already had an account.
func (s *Server) handleRegister() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		req, err := Decode[registerRequest](w, r)
		if err != nil {
			return err
		}
		if err := s.auth.Accounts.Register(r.Context(), account.RegisterInput{
			Email: req.Email, Password: password.Plain(req.Password), Name: req.Name, Locale: req.Locale,
		}); err != nil {
			return err
		}
		return Encode(w, http.StatusAccepted, acceptedBody{Message: "Check your email for a link and a code to verify your address."})
	})
}

type verifyRequest struct {
	Token string `json:"token"`
	Email string `json:"email"`
	Code  string `json:"code"`
}

func (v *verifyRequest) Validate() error {
	if (v.Token == "") == (v.Email == "" && v.Code == "") {
		return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed, Field: "token",
			Message: "Send either the token from the link, or the email and the code."}
	}
	if v.Token == "" && (v.Email == "" || v.Code == "") {
		return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed, Field: "code",
			Message: "Send both the email and the code."}
	}
	return nil
}

// handleVerifyEmail verifies an address with the link token or with the email and code.
func (s *Server) handleVerifyEmail() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		req, err := Decode[verifyRequest](w, r)
		if err != nil {
			return err
		}
		a, err := s.auth.Accounts.VerifyEmail(r.Context(), account.VerifyInput{Token: req.Token, Email: req.Email, Code: req.Code})
		if err != nil {
			return err
		}
		return Encode(w, http.StatusOK, newAccountBody(a))
	})
}

type resendRequest struct {
	Email string `json:"email"`
}

// handleResendVerification sends a new verification email; the answer never says whether the
// address has an account.
func (s *Server) handleResendVerification() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		req, err := Decode[resendRequest](w, r)
		if err != nil {
			return err
		}
		if err := s.auth.Accounts.ResendVerification(r.Context(), req.Email); err != nil {
			return err
		}
		return Encode(w, http.StatusAccepted, acceptedBody{Message: "If the address has an account that is not verified yet, a new email is on its way."})
	})
}

type loginRequest struct {
	Identifier string `json:"identifier"`
	Password   string `json:"password"`
	UseCookies bool   `json:"use_cookies"`
}

// handleLogin signs in with an identifier (email or phone) and a password.
func (s *Server) handleLogin() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		req, err := Decode[loginRequest](w, r)
		if err != nil {
			return err
		}
		if req.UseCookies {
			if err := s.checkCookieMode(r); err != nil {
				return err
			}
		}
		t, err := s.auth.Accounts.Login(r.Context(), account.LoginInput{Identifier: req.Identifier, Password: password.Plain(req.Password)}, clientMeta(r))
		if err != nil {
			return err
		}
		SetAccountID(r.Context(), t.Account.ID)
		return s.writeTokens(w, http.StatusOK, t, req.UseCookies)
	})
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// handleRefresh rotates a refresh token: from the body, or from the refresh cookie in cookie mode.
func (s *Server) handleRefresh() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		var req refreshRequest
		cookieMode := false
		if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
			var err error
			if req, err = Decode[refreshRequest](w, r); err != nil {
				return err
			}
		}
		if req.RefreshToken == "" && s.cfg.Cookies.Enabled {
			if c, err := r.Cookie(refreshCookie); err == nil && c.Value != "" {
				if err := s.csrfCheck(r); err != nil {
					return err
				}
				req.RefreshToken, cookieMode = c.Value, true
			}
		}
		if req.RefreshToken == "" {
			return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed, Field: "refresh_token",
				Message: "Send the refresh token."}
		}
		t, err := s.auth.Accounts.Refresh(r.Context(), req.RefreshToken, clientMeta(r))
		if err != nil {
			if cookieMode && gatehouse.ErrorCode(err) == gatehouse.EUNAUTHENTICATED {
				s.clearCookies(w)
			}
			return err
		}
		if t.Account != nil {
			SetAccountID(r.Context(), t.Account.ID)
		}
		return s.writeTokens(w, http.StatusOK, t, cookieMode)
	})
}

// handleLogout ends the caller's session.
func (s *Server) handleLogout() http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) error {
		if err := s.auth.Accounts.Logout(r.Context(), p.AccountID, p.SessionID); err != nil {
			return err
		}
		s.clearCookies(w)
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// public wraps an unauthenticated auth route.
func (s *Server) public(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		if s.auth == nil {
			return errAuthUnavailable
		}
		return fn(w, withAudit(r))
	})
}

// handleJWKS publishes the public signing keys.
func (s *Server) handleJWKS() http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		if s.auth == nil {
			return errAuthUnavailable
		}
		return writeCacheableJSON(w, s.auth.Keys.JWKS(), "application/jwk-set+json")
	})
}

// handleOpenIDConfiguration publishes the issuer metadata.
func (s *Server) handleOpenIDConfiguration() http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		if s.auth == nil {
			return errAuthUnavailable
		}
		return writeCacheableJSON(w, s.auth.Keys.OpenIDConfiguration(s.cfg.PublicURL), "application/json")
	})
}

// writeCacheableJSON writes a public document that verifiers may cache briefly (keys rotate with an
// activation delay longer than this).
func writeCacheableJSON(w http.ResponseWriter, body []byte, contentType string) error {
	if body == nil {
		return errors.New("no document to serve")
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}
