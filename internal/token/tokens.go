// Package token owns gatehouse's access tokens: the signing keys (generation, encryption at rest,
// rotation with overlap, publication as a JWKS and a discovery document) and the issuing and
// verification of access JWTs (RFC 9068, typ "at+jwt"). It knows nothing of HTTP or storage: keys are
// persisted through the small KeyStore interface that the SQL adapters implement, and errors are
// *gatehouse.Error values the HTTP layer maps to 401.
//
// Revocation is not decided here: a token that verifies may still belong to a revoked session, which
// the session layer checks by the sid claim.
package token

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
)

// TokenType is the typ header of access tokens (RFC 9068). Verify refuses any other type, so that an
// ID token, a refresh token or some other JWT signed by the same keys never passes as an access token.
const TokenType = "at+jwt"

// Reasons of the *gatehouse.Error values that Verify returns (code gatehouse.EUNAUTHENTICATED).
const (
	ReasonTokenInvalid = "token_invalid"
	ReasonTokenExpired = "token_expired"
)

// Defaults of Options.
const (
	DefaultAccessTTL = 15 * time.Minute
	// DefaultLeeway absorbs clock differences between the nodes that sign and verify. Nodes run NTP, so
	// a few seconds suffice; a longer leeway only extends the life of every token.
	DefaultLeeway    = 5 * time.Second
	DefaultCacheSize = 10_000
	DefaultClientID  = "gatehouse"
)

// maxTokenLength bounds the input of Verify: ours are well under 1 KiB, and HTTP servers commonly
// refuse header lines over 8 KiB anyway.
const maxTokenLength = 8 << 10

// Options configures Tokens.
type Options struct {
	Issuer    string        // iss, required: the public URL, equal to the discovery document's issuer
	Audience  []string      // aud, required: a token must carry at least one of them to verify
	AccessTTL time.Duration // default DefaultAccessTTL; at most the key overlap minus the leeway
	Leeway    time.Duration // default DefaultLeeway; negative means none
	ClientID  string        // client_id when AccessClaims.ClientID is empty; default DefaultClientID
	// CacheSize bounds the verified-token cache (entries); zero means DefaultCacheSize and a negative
	// value disables it.
	CacheSize int
	Now       func() time.Time // default: the KeyManager's clock
}

// AccessClaims are the claims of an access token. Issue reads Subject, SessionID, Roles, ClientID,
// AuthTime and AMR and sets the rest; Verify returns all of them.
type AccessClaims struct {
	Subject   string    // sub: the account id
	SessionID string    // sid: the session the token belongs to
	Roles     []string  // roles
	ClientID  string    // client_id (RFC 9068)
	AuthTime  time.Time // auth_time: when the user last authenticated (optional; for step-up)
	AMR       []string  // amr: how (optional, e.g. "pwd", "otp", "mfa")

	ID        string // jti
	Issuer    string // iss
	Audience  []string
	IssuedAt  time.Time // iat
	NotBefore time.Time // nbf
	ExpiresAt time.Time // exp
	KeyID     string    // kid of the signing key
}

// Tokens issues and verifies access tokens with the keys of a KeyManager. It is safe for concurrent
// use.
type Tokens struct {
	km       *KeyManager
	issuer   string
	audience []string
	ttl      time.Duration
	leeway   time.Duration
	clientID string
	now      func() time.Time
	cache    *verifiedCache // nil when disabled
}

// NewTokens returns Tokens over km.
func NewTokens(km *KeyManager, opts Options) (*Tokens, error) {
	if km == nil {
		return nil, errors.New("new tokens: nil key manager")
	}
	t := &Tokens{
		km:       km,
		issuer:   opts.Issuer,
		audience: slices.Clone(opts.Audience),
		ttl:      cmp.Or(opts.AccessTTL, DefaultAccessTTL),
		leeway:   cmp.Or(opts.Leeway, DefaultLeeway),
		clientID: cmp.Or(opts.ClientID, DefaultClientID),
		now:      opts.Now,
	}
	if t.now == nil {
		t.now = km.now
	}
	t.leeway = max(t.leeway, 0)
	switch {
	case t.issuer == "":
		return nil, errors.New("new tokens: issuer is required")
	case len(t.audience) == 0 || slices.Contains(t.audience, ""):
		return nil, errors.New("new tokens: at least one non-empty audience is required")
	case t.ttl < time.Second:
		return nil, fmt.Errorf("new tokens: access token lifetime %s is under a second", t.ttl)
	case t.ttl+t.leeway > km.overlap:
		return nil, fmt.Errorf("new tokens: access token lifetime %s plus leeway %s exceeds the key overlap %s: tokens would outlive their key", t.ttl, t.leeway, km.overlap)
	}
	if size := cmp.Or(opts.CacheSize, DefaultCacheSize); size > 0 {
		t.cache = newVerifiedCache(size)
	}
	return t, nil
}

// AccessTTL is the lifetime of issued tokens (for expires_in).
func (t *Tokens) AccessTTL() time.Duration { return t.ttl }

// Issue signs an access token for c with the current signing key and returns it with its expiry.
func (t *Tokens) Issue(c AccessClaims) (string, time.Time, error) {
	if c.Subject == "" || c.SessionID == "" {
		return "", time.Time{}, errors.New("issue access token: subject and session id are required")
	}
	now := t.now()
	key := t.km.ring.Load().signing(now)
	if key == nil {
		return "", time.Time{}, errors.New("issue access token: no signing key is active (KeyManager.Load has not succeeded)")
	}
	var jti [16]byte
	if _, err := io.ReadFull(t.km.rand, jti[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("issue access token: read jti: %w", err)
	}
	iat := now.Unix()
	exp := now.Add(t.ttl).Unix()
	wc := wireClaims{
		Issuer:    t.issuer,
		Subject:   c.Subject,
		Audience:  t.audience,
		Exp:       numericDate{set: true, sec: exp},
		Nbf:       numericDate{set: true, sec: iat},
		Iat:       numericDate{set: true, sec: iat},
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		ClientID:  cmp.Or(c.ClientID, t.clientID),
		SessionID: c.SessionID,
		Roles:     c.Roles,
		AMR:       c.AMR,
	}
	if wc.Roles == nil {
		wc.Roles = []string{}
	}
	if !c.AuthTime.IsZero() {
		wc.AuthTime = numericDate{set: true, sec: c.AuthTime.Unix()}
	}
	payload, err := json.Marshal(wc)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue access token: marshal claims: %w", err)
	}
	jws, err := key.signer.Sign(payload)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue access token with key %s: %w", key.ID, err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue access token: serialize: %w", err)
	}
	return s, time.Unix(exp, 0).UTC(), nil
}

// Verify checks an access token and returns its claims. It accepts only the algorithms of our own
// keys (EdDSA, ES256: never none, never HMAC), requires typ at+jwt, finds the key by kid in our key set
// alone (jwk, jku, x5u and x5c headers are never consulted), and checks iss, aud, exp, nbf and iat with
// the leeway. Every failure is a *gatehouse.Error with code EUNAUTHENTICATED and reason
// ReasonTokenExpired or ReasonTokenInvalid; the cause is wrapped for the log.
func (t *Tokens) Verify(token string) (*AccessClaims, error) {
	if token == "" {
		return nil, invalid(errors.New("empty token"))
	}
	if len(token) > maxTokenLength {
		return nil, invalid(fmt.Errorf("token of %d bytes exceeds %d", len(token), maxTokenLength))
	}
	now := t.now()
	ring := t.km.ring.Load()
	var sum [32]byte
	if t.cache != nil {
		sum = sha256.Sum256([]byte(token))
		if c := t.cache.get(sum, now); c != nil && t.timely(c, now) == nil && ring.verifier(c.KeyID, now) != nil {
			return c.clone(), nil
		}
	}
	c, err := t.verify(token, ring, now)
	if err != nil {
		return nil, err
	}
	if t.cache != nil {
		t.cache.put(sum, c.clone(), c.ExpiresAt.Add(t.leeway), now)
	}
	return c, nil
}

func (t *Tokens) verify(token string, ring *keyRing, now time.Time) (*AccessClaims, error) {
	if ring == nil || len(ring.keys) == 0 {
		return nil, invalid(errors.New("no verification keys loaded"))
	}
	jws, err := jose.ParseSignedCompact(token, ring.algs)
	if err != nil {
		return nil, invalid(fmt.Errorf("parse: %w", err))
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid(fmt.Errorf("%d signatures", len(jws.Signatures)))
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isAccessTokenType(typ) {
		return nil, invalid(fmt.Errorf("typ %q is not %s", typ, TokenType))
	}
	key := ring.verifier(h.KeyID, now)
	if key == nil {
		return nil, invalid(fmt.Errorf("unknown or expired kid %q", h.KeyID))
	}
	if h.Algorithm != key.Algorithm {
		return nil, invalid(fmt.Errorf("alg %q does not match key %s (%s)", h.Algorithm, key.ID, key.Algorithm))
	}
	payload, err := jws.Verify(key.Public)
	if err != nil {
		return nil, invalid(fmt.Errorf("signature by key %s: %w", key.ID, err))
	}
	var wc wireClaims
	if err := json.Unmarshal(payload, &wc); err != nil {
		return nil, invalid(fmt.Errorf("claims: %w", err))
	}
	c, err := wc.accessClaims(h.KeyID)
	if err != nil {
		return nil, invalid(err)
	}
	if c.Issuer != t.issuer {
		return nil, invalid(fmt.Errorf("issuer %q", c.Issuer))
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(t.audience, a) }) {
		return nil, invalid(fmt.Errorf("audience %q", c.Audience))
	}
	if err := t.timely(c, now); err != nil {
		return nil, err
	}
	return c, nil
}

// timely checks exp, nbf and iat at now with the leeway.
func (t *Tokens) timely(c *AccessClaims, now time.Time) error {
	if !now.Before(c.ExpiresAt.Add(t.leeway)) {
		return &gatehouse.Error{
			Code:    gatehouse.EUNAUTHENTICATED,
			Reason:  ReasonTokenExpired,
			Message: "The access token has expired.",
			Err:     fmt.Errorf("expired at %s", c.ExpiresAt.UTC().Format(time.RFC3339)),
		}
	}
	late := now.Add(t.leeway)
	if c.NotBefore.After(late) {
		return invalid(fmt.Errorf("not valid before %s", c.NotBefore.UTC().Format(time.RFC3339)))
	}
	if c.IssuedAt.After(late) {
		return invalid(fmt.Errorf("issued in the future at %s", c.IssuedAt.UTC().Format(time.RFC3339)))
	}
	return nil
}

// isAccessTokenType accepts "at+jwt" and its full media type; media types are case-insensitive
// (RFC 9068, section 4).
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, TokenType) || strings.EqualFold(typ, "application/"+TokenType)
}

func invalid(cause error) error {
	return &gatehouse.Error{
		Code:    gatehouse.EUNAUTHENTICATED,
		Reason:  ReasonTokenInvalid,
		Message: "The access token is invalid.",
		Err:     cause,
	}
}

func (c *AccessClaims) clone() *AccessClaims {
	d := *c
	d.Roles = slices.Clone(c.Roles)
	d.AMR = slices.Clone(c.AMR)
	d.Audience = slices.Clone(c.Audience)
	return &d
}

// wireClaims is the JSON payload.
type wireClaims struct {
	Issuer    string      `json:"iss"`
	Subject   string      `json:"sub"`
	Audience  audience    `json:"aud"`
	Exp       numericDate `json:"exp"`
	Nbf       numericDate `json:"nbf"`
	Iat       numericDate `json:"iat"`
	ID        string      `json:"jti"`
	ClientID  string      `json:"client_id"`
	SessionID string      `json:"sid"`
	Roles     []string    `json:"roles"`
	AuthTime  numericDate `json:"auth_time,omitzero"`
	AMR       []string    `json:"amr,omitempty"`
}

func (w *wireClaims) accessClaims(kid string) (*AccessClaims, error) {
	switch {
	case w.Subject == "":
		return nil, errors.New("no sub claim")
	case w.SessionID == "":
		return nil, errors.New("no sid claim")
	case w.ID == "":
		return nil, errors.New("no jti claim")
	case !w.Exp.set:
		return nil, errors.New("no exp claim")
	case !w.Nbf.set:
		return nil, errors.New("no nbf claim")
	case !w.Iat.set:
		return nil, errors.New("no iat claim")
	}
	c := &AccessClaims{
		Subject:   w.Subject,
		SessionID: w.SessionID,
		Roles:     w.Roles,
		ClientID:  w.ClientID,
		AMR:       w.AMR,
		ID:        w.ID,
		Issuer:    w.Issuer,
		Audience:  w.Audience,
		IssuedAt:  w.Iat.time(),
		NotBefore: w.Nbf.time(),
		ExpiresAt: w.Exp.time(),
		KeyID:     kid,
	}
	if w.AuthTime.set {
		c.AuthTime = w.AuthTime.time()
	}
	return c, nil
}

// numericDate is a JSON NumericDate (RFC 7519): seconds since the epoch, written as an integer and
// read from any JSON number (a fraction is dropped).
type numericDate struct {
	set bool
	sec int64
}

// maxNumericDate (about the year 36812) keeps conversions exact and far from overflow.
const maxNumericDate = 1 << 40

func (d numericDate) IsZero() bool { return !d.set }

func (d numericDate) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, d.sec, 10), nil }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("numeric date %.20q: %w", b, err)
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return fmt.Errorf("numeric date %.20q out of range", b)
	}
	d.set, d.sec = true, int64(math.Floor(f))
	return nil
}

func (d numericDate) time() time.Time { return time.Unix(d.sec, 0).UTC() }

// audience is the aud claim: one string or an array of strings. One audience is written as a string,
// the form every verifier reads.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("aud is neither a string nor an array of strings: %w", err)
	}
	*a = list
	return nil
}
