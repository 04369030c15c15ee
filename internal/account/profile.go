package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/ephemeral"
	"github.com/gatehouse/gatehouse/internal/records"
	"github.com/gatehouse/gatehouse/internal/session"
)

// The profile cache keeps accounts (without password hashes) in the ephemeral store under
// "account:<id>". Every change replaces the entry with a tombstone for tombstoneTTL after its
// commit: a reader that loaded the old row just before the commit then cannot put it back (it only
// adds entries with SetNX), which a plain delete would allow for a whole ProfileCacheTTL.
const (
	profileKeyPrefix = "account:"
	tombstone        = "-"
	tombstoneTTL     = 5 * time.Second
	// maxFillDelay bounds the time between a reader's database read and its cache fill: a reader
	// slower than that (it may have outlived a tombstone) does not fill the cache.
	maxFillDelay  = tombstoneTTL / 2
	profileFormat = 1
)

// cachedProfile is the cache's JSON form of an account. It has no password hash field, so a hash
// can never reach the cache.
type cachedProfile struct {
	Format          int                     `json:"f"`
	ID              string                  `json:"id"`
	Status          gatehouse.AccountStatus `json:"status"`
	Roles           []string                `json:"roles"`
	Name            string                  `json:"name,omitempty"`
	Locale          string                  `json:"locale,omitempty"`
	Email           string                  `json:"email,omitempty"`
	EmailVerifiedAt time.Time               `json:"email_verified_at,omitzero"`
	Phone           string                  `json:"phone,omitempty"`
	PhoneVerifiedAt time.Time               `json:"phone_verified_at,omitzero"`
	CreatedAt       time.Time               `json:"created_at"`
	UpdatedAt       time.Time               `json:"updated_at"`
	DeletedAt       time.Time               `json:"deleted_at,omitzero"`
}

func toCached(a *gatehouse.Account) cachedProfile {
	return cachedProfile{
		Format: profileFormat, ID: a.ID, Status: a.Status, Roles: a.Roles, Name: a.Name, Locale: a.Locale,
		Email: a.Email, EmailVerifiedAt: a.EmailVerifiedAt, Phone: a.Phone, PhoneVerifiedAt: a.PhoneVerifiedAt,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, DeletedAt: a.DeletedAt,
	}
}

func (c cachedProfile) account() *gatehouse.Account {
	roles := c.Roles
	if roles == nil {
		roles = []string{}
	}
	return &gatehouse.Account{
		ID: c.ID, Status: c.Status, Roles: roles, Name: c.Name, Locale: c.Locale,
		Email: c.Email, EmailVerifiedAt: c.EmailVerifiedAt, Phone: c.Phone, PhoneVerifiedAt: c.PhoneVerifiedAt,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, DeletedAt: c.DeletedAt,
	}
}

func profileKey(accountID string) string { return profileKeyPrefix + accountID }

// errAccountNotFound answers for unknown and deleted accounts.
func errAccountNotFound() *gatehouse.Error {
	return &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "The account does not exist."}
}

// Profile returns an account (without its password hash), read through the near cache (in
// process, see Start) and the profile cache in the ephemeral store, so that the common case costs no
// round trip and no database query. An unknown or deleted account is ENOTFOUND. When the ephemeral
// store fails, Profile reads the database.
func (s *Service) Profile(ctx context.Context, accountID string) (*gatehouse.Account, error) {
	if accountID == "" {
		return nil, errAccountNotFound()
	}
	now := s.now()
	a, epoch, ok := s.near.lookup(accountID, now)
	if ok {
		return live(a)
	}
	key := profileKey(accountID)
	b, err := s.eph.Get(ctx, key)
	switch {
	case err == nil && string(b) != tombstone:
		var c cachedProfile
		if jerr := json.Unmarshal(b, &c); jerr == nil && c.Format == profileFormat && c.ID == accountID {
			a = c.account()
			s.near.store(a, epoch, now)
			return live(a)
		}
		s.log.WarnContext(ctx, "profile cache: unreadable entry", slog.String("account_id", accountID))
	case err != nil && !errors.Is(err, ephemeral.ErrNotFound):
		s.log.WarnContext(ctx, "profile cache: read failed", slog.String("account_id", accountID), slog.Any("err", err))
	}
	cached := err == nil // a tombstone or an unreadable entry: do not fill

	start := s.now()
	a, err = s.store.GetAccount(ctx, accountID)
	if errors.Is(err, records.ErrNotFound) {
		return nil, errAccountNotFound()
	}
	if err != nil {
		return nil, fail("get account", err)
	}
	if !cached && s.now().Sub(start) < maxFillDelay {
		s.fill(ctx, a)
	}
	p := public(a)
	s.near.store(p, epoch, now)
	return live(p)
}

// live returns a, or ENOTFOUND when the account is deleted.
func live(a *gatehouse.Account) (*gatehouse.Account, error) {
	if a.Status == gatehouse.AccountDeleted {
		return nil, errAccountNotFound()
	}
	return a, nil
}

// fill adds a to the cache unless an entry (or a tombstone) is there.
func (s *Service) fill(ctx context.Context, a *gatehouse.Account) {
	b, err := json.Marshal(toCached(a))
	if err != nil {
		s.log.ErrorContext(ctx, "profile cache: encode", slog.String("account_id", a.ID), slog.Any("err", err))
		return
	}
	if _, err := s.eph.SetNX(ctx, profileKey(a.ID), b, s.opts.ProfileCacheTTL); err != nil {
		s.log.WarnContext(ctx, "profile cache: fill failed", slog.String("account_id", a.ID), slog.Any("err", err))
	}
}

// InvalidateProfile drops an account from the profile cache (replacing the entry with a short
// tombstone) and from the near cache of every node (its own at once, the others' when the
// announcement reaches them). The Service does so after each change it commits, logging a failure
// (the entry then expires by itself within ProfileCacheTTL); code elsewhere that changes an account
// (administration, password reset) must call it after its commit too.
func (s *Service) InvalidateProfile(ctx context.Context, accountID string) error {
	err := s.eph.Set(ctx, profileKey(accountID), []byte(tombstone), min(tombstoneTTL, s.opts.ProfileCacheTTL))
	// The local drop and the announcement come after the tombstone: a read that starts once they have
	// been seen finds the tombstone, so it reads the database rather than the old entry. They happen
	// even when the tombstone could not be written, to shorten the staleness where they can.
	s.near.drop(accountID)
	s.announceInvalidation(ctx, accountID)
	if err != nil {
		return fmt.Errorf("invalidate profile %s: %w", accountID, err)
	}
	return nil
}

// invalidate is InvalidateProfile after a commit, whose failure cannot undo the change.
func (s *Service) invalidate(ctx context.Context, accountID string) {
	// The change is committed: drop the entry even if the request was cancelled meanwhile.
	ctx = context.WithoutCancel(ctx)
	if err := s.InvalidateProfile(ctx, accountID); err != nil {
		s.log.ErrorContext(ctx, "profile cache: invalidation failed; stale until expiry",
			slog.String("account_id", accountID), slog.Any("err", err))
	}
}

// ProfilePatch is a change to the fields of a profile that its owner may change; nil leaves a field
// as it is. Roles, status and identifiers have no field here: they cannot be changed this way.
type ProfilePatch struct {
	Name   *string
	Locale *string // a BCP 47 tag, stored in canonical form; "" clears it
}

// UpdateProfile applies a patch to the account's profile and returns the account. Invalid fields
// are EINVALID errors naming them; an unknown or deleted account is ENOTFOUND. The audit event lists
// the fields that changed.
func (s *Service) UpdateProfile(ctx context.Context, accountID string, p ProfilePatch) (*gatehouse.Account, error) {
	var (
		name, locale string
		errs         []error
		err          error
	)
	if p.Name != nil {
		if name, err = normalizeName(*p.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if p.Locale != nil {
		if locale, err = normalizeLocale(*p.Locale); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var (
		updated *gatehouse.Account
		changed []string
	)
	err = s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		changed = nil
		a, err := s.liveAccount(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if p.Name != nil && name != a.Name {
			a.Name = name
			changed = append(changed, "name")
		}
		if p.Locale != nil && locale != a.Locale {
			a.Locale = locale
			changed = append(changed, "locale")
		}
		updated = a
		if len(changed) == 0 {
			return nil
		}
		a.UpdatedAt = s.nowUTC()
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return fmt.Errorf("update account: %w", err)
		}
		return s.record(ctx, tx, gatehouse.AuditEvent{
			Action:    audit.ActionAccountUpdated,
			Outcome:   audit.OutcomeSuccess,
			ActorID:   a.ID,
			SubjectID: a.ID,
			Data:      map[string]any{"fields": changed},
		})
	})
	if err != nil {
		return nil, fail("update profile", err)
	}
	if len(changed) > 0 {
		s.invalidate(ctx, accountID)
	}
	return public(updated), nil
}

// liveAccount reads an account that is not deleted inside a transaction; ENOTFOUND otherwise.
func (s *Service) liveAccount(ctx context.Context, tx records.Tx, accountID string) (*gatehouse.Account, error) {
	if accountID == "" {
		return nil, errAccountNotFound()
	}
	a, err := tx.GetAccount(ctx, accountID)
	if errors.Is(err, records.ErrNotFound) {
		return nil, errAccountNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("get account: %w", err)
	}
	if a.Status == gatehouse.AccountDeleted {
		return nil, errAccountNotFound()
	}
	return a, nil
}

// Delete soft-deletes an account at its owner's request (sessionID is the session that asked, for
// the audit log): the row stays with status deleted, its email and phone are freed for new accounts,
// and every session is revoked, in one transaction. An unknown or already deleted account is
// ENOTFOUND.
func (s *Service) Delete(ctx context.Context, accountID, sessionID string) error {
	err := s.store.InTx(ctx, func(ctx context.Context, tx records.Tx) error {
		a, err := s.liveAccount(ctx, tx, accountID)
		if err != nil {
			return err
		}
		now := s.nowUTC()
		a.Status = gatehouse.AccountDeleted
		a.DeletedAt = now
		a.UpdatedAt = now
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		if err := s.record(ctx, tx, gatehouse.AuditEvent{
			Action:    audit.ActionAccountDeleted,
			Outcome:   audit.OutcomeSuccess,
			ActorID:   a.ID,
			SubjectID: a.ID,
			SessionID: sessionID,
		}); err != nil {
			return err
		}
		if _, err := s.sessions.RevokeAllTx(ctx, tx, a.ID, "", session.RevokeAccountDeleted); err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		return nil
	})
	if err != nil {
		return fail("delete account", err)
	}
	s.invalidate(ctx, accountID)
	return nil
}
