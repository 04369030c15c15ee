package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/password"
)

// The routes of phone sign-up, passwordless sign-in with a one-time code, and phone change. The
// flows themselves (codes, sending limits, enumeration-safe answers) are internal/account's; these
// handlers decode, call them, and answer. A refusal by a sending limit reaches writeError as the OTP
// engine's limit error, which adds the Retry-After and RateLimit headers (problem.go).

// codeSentBody is the answer of every request for a one-time code: the same whether or not a code
// was sent, so it tells nothing about whether an account exists.
type codeSentBody struct {
	ExpiresIn   int64 `json:"expires_in"`   // seconds until the code expires
	ResendAfter int64 `json:"resend_after"` // seconds before another code may be requested
}

// writeCodeSent answers a request for a code with 202. It sends no RateLimit headers, although the
// engine reports the destination's quota: the quota left counts every code sent to the number in the
// hour, its own sign-up's included, so it would tell a recently active customer's number from any
// other, and these answers must be identical for both (429s carry the headers; problem.go).
func writeCodeSent(w http.ResponseWriter, res account.StartResult) error {
	return Encode(w, http.StatusAccepted, codeSentBody{
		ExpiresIn:   ceilSeconds(res.ExpiresIn),
		ResendAfter: ceilSeconds(res.ResendAfter),
	})
}

// ceilSeconds rounds d up to whole seconds, never below zero.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// required returns a validation error for each named field whose value is blank, joined; nil when
// none is.
func required(fields ...requiredField) error {
	var errs []error
	for _, f := range fields {
		if strings.TrimSpace(f.value) == "" {
			errs = append(errs, &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed,
				Field: f.name, Message: f.message})
		}
	}
	return errors.Join(errs...)
}

type requiredField struct {
	name, value, message string
}

const (
	msgPhoneRequired      = "The phone number is required."
	msgCodeRequired       = "The code is required."
	msgPasswordRequired   = "The password is required."
	msgIdentifierRequired = "An email address or a phone number is required."
)

// phoneCodeRequest asks for a code sent to a phone number: phone sign-up and phone change.
type phoneCodeRequest struct {
	Phone  string `json:"phone"`
	Locale string `json:"locale"`
}

func (v *phoneCodeRequest) Validate() error {
	return required(requiredField{"phone", v.Phone, msgPhoneRequired})
}

// handleRegisterPhoneStart sends a sign-up code to a phone number. The answer is the same whether or
// not the number already has an account.
func (s *Server) handleRegisterPhoneStart() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		req, err := Decode[phoneCodeRequest](w, r)
		if err != nil {
			return err
		}
		res, err := s.auth.Accounts.RegisterPhoneStart(r.Context(), account.PhoneCodeRequest{Phone: req.Phone, Locale: req.Locale}, clientMeta(r))
		if err != nil {
			return err
		}
		return writeCodeSent(w, res)
	})
}

type phoneRegisterRequest struct {
	Phone      string `json:"phone"`
	Code       string `json:"code"`
	Password   string `json:"password"`
	Name       string `json:"name"`
	Email      string `json:"email"`
	Locale     string `json:"locale"`
	UseCookies bool   `json:"use_cookies"`
}

func (v *phoneRegisterRequest) Validate() error {
	return required(
		requiredField{"phone", v.Phone, msgPhoneRequired},
		requiredField{"code", v.Code, msgCodeRequired},
		requiredField{"password", v.Password, msgPasswordRequired},
	)
}

// handleRegisterPhoneComplete creates an account from a phone number and its sign-up code, and
// signs it in (201 with the tokens, or the cookies in cookie mode).
func (s *Server) handleRegisterPhoneComplete() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		req, err := Decode[phoneRegisterRequest](w, r)
		if err != nil {
			return err
		}
		if req.UseCookies {
			if err := s.checkCookieMode(r); err != nil {
				return err
			}
		}
		t, err := s.auth.Accounts.RegisterPhoneComplete(r.Context(), account.PhoneRegisterInput{
			Phone: req.Phone, Code: req.Code, Password: password.Plain(req.Password),
			Name: req.Name, Email: req.Email, Locale: req.Locale,
		}, clientMeta(r))
		if err != nil {
			return err
		}
		SetAccountID(r.Context(), t.Account.ID)
		return s.writeTokens(w, http.StatusCreated, t, req.UseCookies)
	})
}

type loginCodeStartRequest struct {
	Identifier string `json:"identifier"`
	Locale     string `json:"locale"`
}

func (v *loginCodeStartRequest) Validate() error {
	return required(requiredField{"identifier", v.Identifier, msgIdentifierRequired})
}

// handleLoginCodeStart sends a passwordless sign-in code to a phone number or an email address. The
// answer is the same whether or not an account can use it.
func (s *Server) handleLoginCodeStart() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		req, err := Decode[loginCodeStartRequest](w, r)
		if err != nil {
			return err
		}
		res, err := s.auth.Accounts.LoginOTPStart(r.Context(), account.LoginCodeRequest{Identifier: req.Identifier, Locale: req.Locale}, clientMeta(r))
		if err != nil {
			return err
		}
		return writeCodeSent(w, res)
	})
}

type loginCodeRequest struct {
	Identifier string `json:"identifier"`
	Code       string `json:"code"`
	UseCookies bool   `json:"use_cookies"`
}

func (v *loginCodeRequest) Validate() error {
	return required(
		requiredField{"identifier", v.Identifier, msgIdentifierRequired},
		requiredField{"code", v.Code, msgCodeRequired},
	)
}

// handleLoginCodeComplete signs in with the identifier a code was sent to and the code.
func (s *Server) handleLoginCodeComplete() http.Handler {
	return s.public(func(w http.ResponseWriter, r *http.Request) error {
		req, err := Decode[loginCodeRequest](w, r)
		if err != nil {
			return err
		}
		if req.UseCookies {
			if err := s.checkCookieMode(r); err != nil {
				return err
			}
		}
		t, err := s.auth.Accounts.LoginOTPComplete(r.Context(), account.LoginCodeInput{Identifier: req.Identifier, Code: req.Code}, clientMeta(r))
		if err != nil {
			return err
		}
		SetAccountID(r.Context(), t.Account.ID)
		return s.writeTokens(w, http.StatusOK, t, req.UseCookies)
	})
}

// handlePhoneChangeStart sends a code to the number the signed-in account wants instead of its own.
// It needs a recent sign-in: the access token's auth_time (a token without one counts as old).
func (s *Server) handlePhoneChangeStart() http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) error {
		req, err := Decode[phoneCodeRequest](w, r)
		if err != nil {
			return err
		}
		res, err := s.auth.Accounts.PhoneChangeStart(r.Context(), p.AccountID, p.AuthTime,
			account.PhoneCodeRequest{Phone: req.Phone, Locale: req.Locale}, clientMeta(r))
		if err != nil {
			return err
		}
		return writeCodeSent(w, res)
	})
}

type phoneChangeRequest struct {
	Phone string `json:"phone"`
	Code  string `json:"code"`
}

func (v *phoneChangeRequest) Validate() error {
	return required(
		requiredField{"phone", v.Phone, msgPhoneRequired},
		requiredField{"code", v.Code, msgCodeRequired},
	)
}

// handlePhoneChangeComplete changes the signed-in account's phone number, given the code sent to the
// new one, and answers the account.
func (s *Server) handlePhoneChangeComplete() http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) error {
		req, err := Decode[phoneChangeRequest](w, r)
		if err != nil {
			return err
		}
		a, err := s.auth.Accounts.PhoneChangeComplete(r.Context(), p.AccountID, p.AuthTime, req.Phone, req.Code)
		if err != nil {
			return err
		}
		return Encode(w, http.StatusOK, newAccountBody(a))
	})
}
