package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/webhooks"
)

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := webhooks.NewSecret()
	require.NoError(t, err)
	return s
}

func TestNewSecret(t *testing.T) {
	a, b := newSecret(t), newSecret(t)
	assert.True(t, strings.HasPrefix(a, webhooks.SecretPrefix), a)
	assert.NotEqual(t, a, b, "each secret is random")
	key, err := webhooks.SecretBytes(a)
	require.NoError(t, err)
	assert.Len(t, key, 32)
	assert.Equal(t, a, webhooks.SecretPrefix+base64.StdEncoding.EncodeToString(key))
}

func TestSecretBytesRefusesMalformedSecrets(t *testing.T) {
	key := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for name, secret := range map[string]string{
		"empty":            "",
		"no prefix":        key(32),
		"another prefix":   "whsk_" + key(32),
		"not base64":       "whsec_not*base64!",
		"url-safe base64":  "whsec_" + strings.Repeat("-_", 22),
		"prefix only":      "whsec_",
		"key too short":    "whsec_" + key(16),
		"key too long":     "whsec_" + key(65),
		"unpadded base64":  "whsec_" + base64.RawStdEncoding.EncodeToString(make([]byte, 32)),
		"trailing garbage": "whsec_" + key(32) + "#",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := webhooks.SecretBytes(secret)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "webhooks: "), err.Error())
			if secret != "" && secret != "whsec_" {
				assert.NotContains(t, err.Error(), strings.TrimPrefix(secret, "whsec_"), "the error never repeats the secret")
			}
		})
	}
}

func TestSignVerifiesWithStandardWebhooks(t *testing.T) {
	current, rotated, other := newSecret(t), newSecret(t), newSecret(t)
	body := []byte(`{"id":"evt_01KKNTWRE00MX2GMA0VE4W6DVP","type":"contact.created","createdAt":"2026-03-14T09:30:00Z","data":{}}`)
	const msgID = "evt_01KKNTWRE00MX2GMA0VE4W6DVP"
	// The reference library refuses timestamps more than five minutes from
	// its own clock, so these deliveries are signed now.
	now := time.Now()

	tests := []struct {
		name     string
		signWith []string
		verifier string
		body     []byte
		ok       bool
	}{
		{"one secret", []string{current}, current, body, true},
		{"two secrets: the current one verifies", []string{current, rotated}, current, body, true},
		{"two secrets: the rotated-out one verifies", []string{current, rotated}, rotated, body, true},
		{"wrong secret", []string{current}, other, body, false},
		{"wrong secret among two", []string{current, rotated}, other, body, false},
		{"tampered body", []string{current}, current, []byte(strings.Replace(string(body), "contact.created", "contact.deleted", 1)), false},
		{"body with a byte added", []string{current, rotated}, rotated, append([]byte(" "), body...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := webhooks.Headers(tc.signWith, msgID, now, body)
			require.NoError(t, err)
			wh, err := standardwebhooks.NewWebhook(tc.verifier)
			require.NoError(t, err)
			err = wh.Verify(tc.body, h)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, standardwebhooks.ErrNoMatchingSignature)
			}
		})
	}

	t.Run("another message id fails", func(t *testing.T) {
		h, err := webhooks.Headers([]string{current}, msgID, now, body)
		require.NoError(t, err)
		h.Set("webhook-id", "evt_01KKNTWNG8VMTF0MKQ6K0T36F5")
		wh, err := standardwebhooks.NewWebhook(current)
		require.NoError(t, err)
		assert.ErrorIs(t, wh.Verify(body, h), standardwebhooks.ErrNoMatchingSignature)
	})
	t.Run("another timestamp fails", func(t *testing.T) {
		h, err := webhooks.Headers([]string{current}, msgID, now, body)
		require.NoError(t, err)
		h.Set("webhook-timestamp", strconv.FormatInt(now.Unix()-1, 10))
		wh, err := standardwebhooks.NewWebhook(current)
		require.NoError(t, err)
		assert.ErrorIs(t, wh.Verify(body, h), standardwebhooks.ErrNoMatchingSignature)
	})
}

// TestSignKnownAnswers pins the format: a change to what is signed or how
// the header is written fails here even if Sign and a verifier changed
// together.
func TestSignKnownAnswers(t *testing.T) {
	t.Run("Standard Webhooks' published vector", func(t *testing.T) {
		sig, err := webhooks.Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek",
			time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
		require.NoError(t, err)
		assert.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig)
	})

	t.Run("two secrets, computed independently", func(t *testing.T) {
		keyA := make([]byte, 32)
		keyB := make([]byte, 32)
		for i := range keyA {
			keyA[i], keyB[i] = byte(i), byte(255-i)
		}
		secretA := "whsec_" + base64.StdEncoding.EncodeToString(keyA)
		secretB := "whsec_" + base64.StdEncoding.EncodeToString(keyB)
		require.Equal(t, "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", secretA)
		// 08:30:00Z: only the Unix second counts, not the fraction or the zone.
		at := time.Date(2026, 3, 14, 9, 30, 0, 999_000_000, time.FixedZone("CET", 3600))
		body := []byte(`{"id":"evt_1","type":"test.ping","data":{}}`)
		mac := func(key []byte) string {
			h := hmac.New(sha256.New, key)
			h.Write([]byte("evt_1.1773477000." + string(body)))
			return base64.StdEncoding.EncodeToString(h.Sum(nil))
		}

		sig, err := webhooks.Sign([]string{secretA, secretB}, "evt_1", at, body)
		require.NoError(t, err)
		assert.Equal(t, "v1,"+mac(keyA)+" v1,"+mac(keyB), sig)

		reversed, err := webhooks.Sign([]string{secretB, secretA}, "evt_1", at, body)
		require.NoError(t, err)
		assert.Equal(t, "v1,"+mac(keyB)+" v1,"+mac(keyA), reversed, "signatures come in the order of the secrets")
	})
}

func TestHeaders(t *testing.T) {
	secret := newSecret(t)
	at := time.Unix(1773480600, 0)
	body := []byte(`{"type":"test.ping"}`)
	h, err := webhooks.Headers([]string{secret}, "evt_1", at, body)
	require.NoError(t, err)
	sig, err := webhooks.Sign([]string{secret}, "evt_1", at, body)
	require.NoError(t, err)

	assert.Equal(t, "evt_1", h.Get("webhook-id"))
	assert.Equal(t, "1773480600", h.Get("webhook-timestamp"))
	assert.Equal(t, sig, h.Get("webhook-signature"))
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.Equal(t, "Sendwell-Webhooks/1", h.Get("User-Agent"))
	assert.Len(t, h, 5, "no other header")

	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	assert.NoError(t, wh.VerifyIgnoringTimestamp(body, h))
}

func TestSignRefuses(t *testing.T) {
	good := newSecret(t)
	malformed := "whsec_c2hvcnQ=" // 5 bytes
	tests := []struct {
		name    string
		secrets []string
		msgID   string
	}{
		{"no secret", nil, "evt_1"},
		{"no message id", []string{good}, ""},
		{"a malformed secret", []string{good, malformed}, "evt_1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webhooks.Sign(tc.secrets, tc.msgID, time.Unix(1773480600, 0), []byte(`{}`))
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "webhooks: "), err.Error())
			assert.NotContains(t, err.Error(), "c2hvcnQ")
			_, err = webhooks.Headers(tc.secrets, tc.msgID, time.Unix(1773480600, 0), []byte(`{}`))
			assert.Error(t, err)
		})
	}
}
