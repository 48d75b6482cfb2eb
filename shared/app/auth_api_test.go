package app_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/auth"
	"github.com/sendwell/sendwell/shared/authn"
	"github.com/sendwell/sendwell/shared/clock"
	"github.com/sendwell/sendwell/shared/store"
	"github.com/sendwell/sendwell/shared/tenant"
)

func TestSignupLoginRefreshAndMe(t *testing.T) {
	a := newAPI(t)
	s := a.signup("ada@example.com")

	t.Run("an email already registered, in any letter case, is a conflict", func(t *testing.T) {
		r := a.do("POST", "/api/auth/signup", map[string]string{"email": "  ADA@Example.COM ", "password": "another password", "name": "X", "organisation": "Y"})
		assert.Equal(t, http.StatusConflict, r.Status)
		assert.Equal(t, "CONFLICT", r.ErrCode(t))
	})

	t.Run("bad signups name the field", func(t *testing.T) {
		for field, body := range map[string]map[string]any{
			"password":     {"email": "b@example.com", "password": "short", "name": "B", "organisation": "O"},
			"email":        {"email": "not-an-email", "password": "long enough pw", "name": "B", "organisation": "O"},
			"name":         {"email": "b@example.com", "password": "long enough pw", "organisation": "O"},
			"organisation": {"email": "b@example.com", "password": "long enough pw", "name": "B", "organisation": 3},
		} {
			r := a.do("POST", "/api/auth/signup", body)
			assert.Equal(t, http.StatusBadRequest, r.Status, field)
			assert.Equal(t, "VALIDATION_ERROR", r.ErrCode(t))
			assert.Contains(t, r.ErrMessage(t), "'"+field+"'")
		}
	})

	t.Run("login, wrong password and unknown email answer alike", func(t *testing.T) {
		ok := a.do("POST", "/api/auth/login", map[string]string{"email": "Ada@example.com", "password": "correct horse battery"})
		require.Equal(t, http.StatusOK, ok.Status)
		assert.NotEmpty(t, ok.JSON(t)["token"])

		wrongPw := a.do("POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": "wrong password!"})
		noUser := a.do("POST", "/api/auth/login", map[string]string{"email": "nobody@example.com", "password": "wrong password!"})
		assert.Equal(t, http.StatusUnauthorized, wrongPw.Status)
		assert.Equal(t, http.StatusUnauthorized, noUser.Status)
		assert.Equal(t, string(wrongPw.Body), string(noUser.Body))
	})

	t.Run("the stored password is an argon2id hash", func(t *testing.T) {
		var item struct {
			PasswordHash string `dynamodbav:"passwordHash"`
		}
		require.NoError(t, a.env.Store.Get(t.Context(), store.LoginKey("ada@example.com"), &item))
		assert.True(t, strings.HasPrefix(item.PasswordHash, "$argon2id$"))
		assert.NotContains(t, item.PasswordHash, "correct horse")
	})

	t.Run("refresh gives a new working token", func(t *testing.T) {
		a.clock.Advance(time.Hour)
		r := a.do("POST", "/api/auth/refresh", nil, bearer(s.Token)...)
		require.Equal(t, http.StatusOK, r.Status)
		tok := r.JSON(t)["token"].(string)
		assert.NotEqual(t, s.Token, tok)
		assert.Equal(t, http.StatusOK, a.do("GET", "/api/users/me", nil, bearer(tok)...).Status)
	})

	t.Run("users/me with a JWT shows the user, organisation and plan", func(t *testing.T) {
		r := a.do("GET", "/api/users/me", nil, bearer(s.Token)...)
		require.Equal(t, http.StatusOK, r.Status)
		m := r.JSON(t)
		assert.Equal(t, "ada@example.com", m["user"].(map[string]any)["email"])
		assert.Nil(t, m["apiKey"])
		assert.Equal(t, s.OrgID, m["organisation"].(map[string]any)["id"])
		assert.EqualValues(t, 100, m["plan"].(map[string]any)["rateLimitPerMinute"])
	})

	t.Run("users/me with an API key shows the key", func(t *testing.T) {
		id, key := a.newKey(s, "ci")
		m := a.do("GET", "/api/users/me", nil, "X-Api-Key", key).JSON(t)
		assert.Nil(t, m["user"])
		assert.Equal(t, id, m["apiKey"].(map[string]any)["id"])
		assert.NotContains(t, fmt.Sprint(m), key)
	})
}

func TestLoginThrottle(t *testing.T) {
	a := newAPI(t)
	a.signup("bob@example.com")
	wrong := map[string]string{"email": "bob@example.com", "password": "wrong password!"}
	for i := 0; i < auth.MaxLoginFailures; i++ {
		require.Equal(t, http.StatusUnauthorized, a.do("POST", "/api/auth/login", wrong).Status, "failure %d", i+1)
		a.clock.Advance(30 * time.Second)
	}
	// 10:05:30: the window [10:00, 10:15) ends in 570 s.
	r := a.do("POST", "/api/auth/login", map[string]string{"email": "BOB@example.com", "password": "correct horse battery"})
	assert.Equal(t, http.StatusTooManyRequests, r.Status, "even the right password waits")
	assert.Equal(t, "RATE_LIMITED", r.ErrCode(t))
	assert.Equal(t, "570", r.Header.Get("Retry-After"))

	other := a.do("POST", "/api/auth/login", map[string]string{"email": "other@example.com", "password": "whatever pass"})
	assert.Equal(t, http.StatusUnauthorized, other.Status, "another email is not throttled")

	a.clock.Advance(570 * time.Second)
	r = a.do("POST", "/api/auth/login", map[string]string{"email": "bob@example.com", "password": "correct horse battery"})
	assert.Equal(t, http.StatusOK, r.Status, "the window has passed")
}

// X-Api-Key carries API keys only: a user's token sent there is refused
// with a message saying where it belongs.
func TestXApiKeyTakesOnlyAPIKeys(t *testing.T) {
	a := newAPI(t)
	s := a.signup("header@example.com")
	_, key := a.newKey(s, "k")
	require.Equal(t, http.StatusOK, a.do("GET", "/api/users/me", nil, bearer(s.Token)...).Status, "control: the token works as Bearer")
	require.Equal(t, http.StatusOK, a.do("GET", "/api/users/me", nil, "X-Api-Key", key).Status, "control: a key works in X-Api-Key")

	r := a.do("GET", "/api/users/me", nil, "X-Api-Key", s.Token)
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Equal(t, "UNAUTHORISED", r.ErrCode(t))
	assert.Equal(t, "The X-Api-Key header takes an API key (sw_live_…); send a user's token as 'Authorization: Bearer <token>'.", r.ErrMessage(t))
}

// Refresh issues no token for a user or an organisation that no longer
// exists, even while this instance still has the organisation cached.
func TestRefreshNeedsTheUserAndTheOrganisation(t *testing.T) {
	a := newAPI(t)
	userID := func(s session) string {
		claims, err := a.deps.Tokens.Verify(s.Token)
		require.NoError(t, err)
		return claims.Subject
	}

	t.Run("user deleted", func(t *testing.T) {
		s := a.signup("gone-user@example.com")
		require.Equal(t, http.StatusOK, a.do("POST", "/api/auth/refresh", nil, bearer(s.Token)...).Status, "control")
		require.NoError(t, a.env.Store.Delete(t.Context(), store.UserKey(s.OrgID, userID(s))))
		r := a.do("POST", "/api/auth/refresh", nil, bearer(s.Token)...)
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Equal(t, "The user of this token no longer exists.", r.ErrMessage(t))
	})
	t.Run("organisation deleted", func(t *testing.T) {
		s := a.signup("gone-org@example.com")
		require.Equal(t, http.StatusOK, a.do("GET", "/api/users/me", nil, bearer(s.Token)...).Status, "caches the organisation's plan")
		require.NoError(t, a.env.Store.Delete(t.Context(), store.OrgKey(s.OrgID)))
		r := a.do("POST", "/api/auth/refresh", nil, bearer(s.Token)...)
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		assert.Equal(t, "The organisation of these credentials no longer exists.", r.ErrMessage(t))
	})
}

func TestJWTsThatMustBeRefused(t *testing.T) {
	a := newAPI(t)
	s := a.signup("eve@example.com")
	real, err := a.deps.Tokens.Verify(s.Token)
	require.NoError(t, err)
	claims := func(mod func(*authn.Claims)) *authn.Claims {
		c := &authn.Claims{Org: s.OrgID, RegisteredClaims: jwt.RegisteredClaims{
			Subject: real.Subject, Issuer: authn.TokenIssuer, Audience: jwt.ClaimStrings{authn.TokenAudience},
			ExpiresAt: jwt.NewNumericDate(a.clock.Now().Add(time.Hour)),
		}}
		mod(c)
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c *authn.Claims) string {
		tok, err := jwt.NewWithClaims(m, c).SignedString(key)
		require.NoError(t, err)
		return tok
	}
	secret := []byte(testSecret)
	good := sign(jwt.SigningMethodHS256, secret, claims(func(*authn.Claims) {}))
	require.Equal(t, http.StatusOK, a.do("GET", "/api/users/me", nil, bearer(good)...).Status, "control: a well-made token works")

	other, err := authn.NewTokens([]byte("a-completely-different-secret-0123456789"), clock.NewFake(t0))
	require.NoError(t, err)
	foreign, _, err := other.Issue(real.Subject, s.OrgID)
	require.NoError(t, err)

	cases := map[string]string{
		"signed with another key": foreign,
		"alg none":                sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(func(*authn.Claims) {})),
		"HS384 not HS256":         sign(jwt.SigningMethodHS384, secret, claims(func(*authn.Claims) {})),
		"no exp":                  sign(jwt.SigningMethodHS256, secret, claims(func(c *authn.Claims) { c.ExpiresAt = nil })),
		"wrong issuer":            sign(jwt.SigningMethodHS256, secret, claims(func(c *authn.Claims) { c.Issuer = "someone-else" })),
		"wrong audience":          sign(jwt.SigningMethodHS256, secret, claims(func(c *authn.Claims) { c.Audience = jwt.ClaimStrings{"other-api"} })),
		"garbage":                 "not.a.jwt",
	}
	for name, tok := range cases {
		r := a.do("GET", "/api/users/me", nil, bearer(tok)...)
		assert.Equal(t, http.StatusUnauthorized, r.Status, name)
		assert.Equal(t, "UNAUTHORISED", r.ErrCode(t), name)
	}

	a.clock.Advance(authn.TokenTTL + time.Second)
	r := a.do("GET", "/api/users/me", nil, bearer(s.Token)...)
	assert.Equal(t, http.StatusUnauthorized, r.Status, "expired after 24 h")
}

func TestMissingOrInvalidCredentials(t *testing.T) {
	a := newAPI(t)
	cases := map[string][]string{
		"none":              nil,
		"empty bearer":      {"Authorization", "Bearer "},
		"basic auth":        {"Authorization", "Basic dXNlcjpwYXNz"},
		"malformed key":     {"X-Api-Key", "sw_live_short"},
		"unknown key":       {"X-Api-Key", "sw_live_" + strings.Repeat("A", 43)},
		"unknown key (jwt)": {"Authorization", "Bearer sw_live_" + strings.Repeat("B", 43)},
	}
	for name, h := range cases {
		r := a.do("GET", "/api/contacts", nil, h...)
		assert.Equal(t, http.StatusUnauthorized, r.Status, name)
		assert.Equal(t, "UNAUTHORISED", r.ErrCode(t), name)
	}
}

func TestAPIKeys(t *testing.T) {
	a := newAPI(t)
	s := a.signup("kim@example.com")
	id, key := a.newKey(s, "production")
	assert.Regexp(t, regexp.MustCompile(`^sw_live_[0-9A-Za-z]{43}$`), key)

	t.Run("a key works as Bearer and as X-Api-Key", func(t *testing.T) {
		assert.Equal(t, http.StatusOK, a.do("GET", "/api/contacts", nil, bearer(key)...).Status)
		assert.Equal(t, http.StatusOK, a.do("GET", "/api/contacts", nil, "X-Api-Key", key).Status)
	})

	t.Run("the list never shows the key", func(t *testing.T) {
		r := a.do("GET", "/api/api-keys", nil, bearer(s.Token)...)
		require.Equal(t, http.StatusOK, r.Status)
		assert.NotContains(t, string(r.Body), key)
		data := r.JSON(t)["data"].([]any)
		require.Len(t, data, 1)
		k := data[0].(map[string]any)
		assert.Equal(t, id, k["id"])
		assert.Equal(t, "sw_live_…"+key[len(key)-4:], k["hint"])
		assert.NotNil(t, k["lastUsedAt"], "the key was used above")
	})

	t.Run("only the SHA-256 of a key is stored", func(t *testing.T) {
		var item map[string]any
		require.NoError(t, a.env.Store.Get(t.Context(), store.APIKeyKey(s.OrgID, id), &item))
		assert.Equal(t, authn.HashKey(key), item["hash"])
		assert.NotContains(t, fmt.Sprint(item), key)
	})

	t.Run("an API key may not manage keys", func(t *testing.T) {
		for _, rq := range [][2]string{{"POST", "/api/api-keys"}, {"GET", "/api/api-keys"}, {"DELETE", "/api/api-keys/" + id}, {"POST", "/api/auth/refresh"}} {
			r := a.do(rq[0], rq[1], map[string]string{"name": "x"}, bearer(key)...)
			assert.Equal(t, http.StatusForbidden, r.Status, rq)
			assert.Equal(t, "FORBIDDEN", r.ErrCode(t))
		}
	})

	t.Run("at most 10 active keys", func(t *testing.T) {
		var ids []string
		for i := 2; i <= tenant.PlanByName("free").Quotas.APIKeys; i++ {
			kid, _ := a.newKey(s, fmt.Sprintf("k%d", i))
			ids = append(ids, kid)
		}
		r := a.do("POST", "/api/api-keys", map[string]string{"name": "eleventh"}, bearer(s.Token)...)
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status)
		assert.Equal(t, "UNPROCESSABLE_ENTITY", r.ErrCode(t))
		require.Equal(t, http.StatusNoContent, a.do("DELETE", "/api/api-keys/"+ids[0], nil, bearer(s.Token)...).Status)
		a.newKey(s, "after a delete there is room again")
	})

	t.Run("a deleted key is refused at once by the instance that deleted it", func(t *testing.T) {
		require.Equal(t, http.StatusNoContent, a.do("DELETE", "/api/api-keys/"+id, nil, bearer(s.Token)...).Status)
		assert.Equal(t, http.StatusUnauthorized, a.do("GET", "/api/contacts", nil, bearer(key)...).Status)
		assert.Equal(t, http.StatusNotFound, a.do("DELETE", "/api/api-keys/"+id, nil, bearer(s.Token)...).Status, "deleting twice")
		assert.Equal(t, http.StatusNotFound, a.do("DELETE", "/api/api-keys/not-an-id", nil, bearer(s.Token)...).Status)
	})
}

func TestRevokedKeyIsRefusedEverywhereWithin60Seconds(t *testing.T) {
	a := newAPI(t)
	other := newAPIOn(t, a.env, a.clock) // a second Lambda instance
	s := a.signup("rex@example.com")
	id, key := a.newKey(s, "k")
	require.Equal(t, http.StatusOK, other.do("GET", "/api/contacts", nil, bearer(key)...).Status, "the other instance caches the key")

	require.Equal(t, http.StatusNoContent, a.do("DELETE", "/api/api-keys/"+id, nil, bearer(s.Token)...).Status)
	a.clock.Advance(authn.KeyCacheTTL)
	r := other.do("GET", "/api/contacts", nil, bearer(key)...)
	assert.Equal(t, http.StatusUnauthorized, r.Status, "refused once the cache period has passed")
}

func TestKeysOfAnotherTenantAnswer404(t *testing.T) {
	a := newAPI(t)
	alice, bob := a.signup("alice@example.com"), a.signup("bob@example.com")
	aliceKeyID, aliceKey := a.newKey(alice, "alice")
	a.newKey(bob, "bob")

	r := a.do("DELETE", "/api/api-keys/"+aliceKeyID, nil, bearer(bob.Token)...)
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, http.StatusOK, a.do("GET", "/api/contacts", nil, bearer(aliceKey)...).Status, "alice's key still works")

	list := a.do("GET", "/api/api-keys", nil, bearer(bob.Token)...).JSON(t)["data"].([]any)
	require.Len(t, list, 1)
	assert.Equal(t, "bob", list[0].(map[string]any)["name"])
}

func TestKeyListPagination(t *testing.T) {
	a := newAPI(t)
	s, other := a.signup("pat@example.com"), a.signup("sam@example.com")
	for i := range 5 {
		a.newKey(s, fmt.Sprintf("key-%d", i))
	}
	var names []string
	cursor, pages := "", 0
	var firstCursor string
	for {
		path := "/api/api-keys?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := a.do("GET", path, nil, bearer(s.Token)...)
		require.Equal(t, http.StatusOK, r.Status)
		m := r.JSON(t)
		pages++
		for _, k := range m["data"].([]any) {
			names = append(names, k.(map[string]any)["name"].(string))
		}
		next, _ := m["nextCursor"].(string)
		if next == "" {
			assert.Nil(t, m["nextCursor"], "null on the last page")
			break
		}
		if firstCursor == "" {
			firstCursor = next
		}
		cursor = next
	}
	assert.Equal(t, 3, pages)
	assert.Equal(t, []string{"key-0", "key-1", "key-2", "key-3", "key-4"}, names)

	r := a.do("GET", "/api/api-keys?limit=2&cursor="+firstCursor, nil, bearer(other.Token)...)
	assert.Equal(t, http.StatusBadRequest, r.Status, "a cursor issued to another tenant")
	assert.Contains(t, r.ErrMessage(t), "'cursor'")
	assert.NotContains(t, string(r.Body), "key-")

	tampered := []byte(firstCursor)
	tampered[5] ^= 2
	r = a.do("GET", "/api/api-keys?limit=2&cursor="+string(tampered), nil, bearer(s.Token)...)
	assert.Equal(t, http.StatusBadRequest, r.Status, "a modified cursor")

	for _, l := range []string{"0", "101", "x"} {
		r = a.do("GET", "/api/api-keys?limit="+l, nil, bearer(s.Token)...)
		assert.Equal(t, http.StatusBadRequest, r.Status, l)
		assert.Contains(t, r.ErrMessage(t), "'limit'")
	}
}

func TestConcurrentSignupsOfOneEmailMakeOneAccount(t *testing.T) {
	a := newAPI(t)
	emails := []string{"race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.com", "rAce@example.com"}
	_, count := a.concurrently(len(emails), func(i int) (sent, error) {
		return tryDo(a, "POST", "/api/auth/signup", map[string]string{"email": emails[i], "password": "correct horse battery", "name": "R", "organisation": "O"})
	})
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusConflict: len(emails) - 1}, count)
}
