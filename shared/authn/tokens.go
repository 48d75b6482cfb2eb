package authn

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sendwell/sendwell/shared/clock"
)

// JWT settings.
const (
	TokenIssuer   = "sendwell"
	TokenAudience = "sendwell-api"
	TokenTTL      = 24 * time.Hour
)

// Claims are a user token's claims: the user is the subject, Org the tenant.
type Claims struct {
	Org string `json:"org"`
	jwt.RegisteredClaims
}

// Tokens issues and verifies users' JWTs: HS256 only, with exp, iss and aud checked.
type Tokens struct {
	secret []byte
	clock  clock.Clock
}

// NewTokens returns Tokens signing with secret (at least 32 bytes).
func NewTokens(secret []byte, clk clock.Clock) (*Tokens, error) {
	if len(secret) < 32 {
		return nil, errors.New("authn: the JWT secret must be at least 32 bytes")
	}
	return &Tokens{secret: secret, clock: clk}, nil
}

// Issue returns a signed token for the user and its expiry.
func (t *Tokens) Issue(userID, orgID string) (string, time.Time, error) {
	now := t.clock.Now().Truncate(time.Second)
	exp := now.Add(TokenTTL)
	claims := Claims{
		Org: orgID,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID,
			Issuer:    TokenIssuer,
			Audience:  jwt.ClaimStrings{TokenAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authn: sign token: %w", err)
	}
	return s, exp, nil
}

// Verify checks a token's signature (HS256 pinned), expiry, issuer and
// audience and returns its claims.
func (t *Tokens) Verify(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithAudience(TokenAudience),
		jwt.WithTimeFunc(t.clock.Now),
	)
	if err != nil {
		return nil, fmt.Errorf("authn: invalid token: %w", err)
	}
	if c.Subject == "" || c.Org == "" {
		return nil, errors.New("authn: token lacks sub or org")
	}
	return &c, nil
}
