package account

// OnProfileInvalidation makes s call f after applying each announced profile invalidation, so that
// tests can wait for an announcement instead of sleeping. Call it before Start.
func OnProfileInvalidation(s *Service, f func(accountID string)) { s.near.applied = f }
