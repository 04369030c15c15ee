package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/account"
	"github.com/gatehouse/gatehouse/internal/session"
)

// accountBody is an account as clients see it: never the password hash, never internal state.
type accountBody struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"`
	Roles           []string   `json:"roles"`
	Name            string     `json:"name"`
	Locale          string     `json:"locale"`
	Email           string     `json:"email,omitempty"`
	EmailVerified   bool       `json:"email_verified"`
	EmailVerifiedAt *time.Time `json:"email_verified_at,omitempty"`
	Phone           string     `json:"phone,omitempty"`
	PhoneVerified   bool       `json:"phone_verified"`
	PhoneVerifiedAt *time.Time `json:"phone_verified_at,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func newAccountBody(a *gatehouse.Account) *accountBody {
	roles := a.Roles
	if roles == nil {
		roles = []string{}
	}
	return &accountBody{
		ID: a.ID, Status: string(a.Status), Roles: roles, Name: a.Name, Locale: a.Locale,
		Email: a.Email, EmailVerified: !a.EmailVerifiedAt.IsZero(), EmailVerifiedAt: optionalTime(a.EmailVerifiedAt),
		Phone: a.Phone, PhoneVerified: !a.PhoneVerifiedAt.IsZero(), PhoneVerifiedAt: optionalTime(a.PhoneVerifiedAt),
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
	}
}

// handleGetAccount answers the caller's own account.
func (s *Server) handleGetAccount() http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) error {
		a, err := s.auth.Accounts.Profile(r.Context(), p.AccountID)
		if err != nil {
			return err
		}
		return Encode(w, http.StatusOK, newAccountBody(a))
	})
}

// patchAccountRequest lists every field a client may change on its own account: nothing else can
// be assigned (roles, status and identifiers have endpoints and rules of their own).
type patchAccountRequest struct {
	Name   *string `json:"name"`
	Locale *string `json:"locale"`
}

// handlePatchAccount changes the caller's profile.
func (s *Server) handlePatchAccount() http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) error {
		req, err := Decode[patchAccountRequest](w, r)
		if err != nil {
			return err
		}
		a, err := s.auth.Accounts.UpdateProfile(r.Context(), p.AccountID, account.ProfilePatch{Name: req.Name, Locale: req.Locale})
		if err != nil {
			return err
		}
		return Encode(w, http.StatusOK, newAccountBody(a))
	})
}

// handleDeleteAccount soft-deletes the caller's account and ends all its sessions.
func (s *Server) handleDeleteAccount() http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) error {
		if err := s.auth.Accounts.Delete(r.Context(), p.AccountID, p.SessionID); err != nil {
			return err
		}
		s.clearCookies(w)
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

type sessionBody struct {
	ID           string    `json:"id"`
	Device       string    `json:"device"`
	IP           string    `json:"ip"`
	Location     string    `json:"location,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	LastActiveAt time.Time `json:"last_active_at"`
	Current      bool      `json:"current"`
}

type listMeta struct {
	Page  int `json:"page"`
	Limit int `json:"limit"`
	Total int `json:"total"`
}

type sessionList struct {
	Data []sessionBody `json:"data"`
	Meta listMeta      `json:"meta"`
}

// handleListSessions lists the caller's active sessions, the current one flagged.
func (s *Server) handleListSessions() http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) error {
		list, err := s.auth.Sessions.List(r.Context(), p.AccountID)
		if err != nil {
			return err
		}
		out := sessionList{Data: make([]sessionBody, 0, len(list))}
		for _, ss := range list {
			out.Data = append(out.Data, sessionBody{
				ID: ss.ID, Device: ss.Device, IP: ss.IP, Location: ss.Location,
				CreatedAt: ss.CreatedAt.UTC(), LastActiveAt: ss.LastActiveAt.UTC(), Current: ss.ID == p.SessionID,
			})
		}
		out.Meta = listMeta{Page: 1, Limit: len(out.Data), Total: len(out.Data)}
		return Encode(w, http.StatusOK, out)
	})
}

// handleRevokeSession ends one of the caller's sessions; another account's session id is answered
// as not found, exactly like an id that does not exist.
func (s *Server) handleRevokeSession() http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) error {
		if err := s.auth.Sessions.Revoke(r.Context(), p.AccountID, r.PathValue("id"), session.RevokeByUser); err != nil {
			return err
		}
		if r.PathValue("id") == p.SessionID {
			s.clearCookies(w)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// handleRevokeSessions ends all the caller's sessions, or all but the current one with
// ?keep_current=true.
func (s *Server) handleRevokeSessions() http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *principal) error {
		keep := false
		if v := r.URL.Query().Get("keep_current"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return &gatehouse.Error{Code: gatehouse.EINVALID, Reason: ReasonValidationFailed, Field: "keep_current",
					Message: "keep_current must be true or false."}
			}
			keep = b
		}
		except := ""
		if keep {
			except = p.SessionID
		}
		if _, err := s.auth.Sessions.RevokeAll(r.Context(), p.AccountID, except, session.RevokeByUser); err != nil {
			return err
		}
		if !keep {
			s.clearCookies(w)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

type outboxMessage struct {
	Channel   string    `json:"channel"`
	To        string    `json:"to"`
	Subject   string    `json:"subject,omitempty"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

type outboxList struct {
	Data []outboxMessage `json:"data"`
	Meta listMeta        `json:"meta"`
}

// handleDevOutbox lists the messages held by the dev outbox, newest first. It exists only in
// development with the dev outbox as the sender: anywhere else the path is not found.
func (s *Server) handleDevOutbox() http.Handler {
	return s.adapt(func(w http.ResponseWriter, r *http.Request) error {
		if s.auth == nil || s.auth.Outbox == nil || s.cfg.Production() {
			return gatehouse.Errorf(gatehouse.ENOTFOUND, "There is nothing at %s.", r.URL.Path)
		}
		msgs := s.auth.Outbox.Messages()
		out := outboxList{Data: make([]outboxMessage, 0, len(msgs))}
		for _, m := range msgs {
			out.Data = append(out.Data, outboxMessage{Channel: m.Channel, To: m.To, Subject: m.Subject, Text: m.Text, CreatedAt: m.CreatedAt.UTC()})
		}
		out.Meta = listMeta{Page: 1, Limit: len(out.Data), Total: len(out.Data)}
		return Encode(w, http.StatusOK, out)
	})
}
