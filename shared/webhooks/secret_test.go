package webhooks_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/webhooks"
)

const sealCtx = "org_01KJMDEB80Q4E84Y6DTAJKXSW9/wh_01KJMDEB80Q4E84Y6DTAJKXSW9"

func sealKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func newSealer(t *testing.T, key []byte) *webhooks.Sealer {
	t.Helper()
	s, err := webhooks.NewSealer(key)
	require.NoError(t, err)
	return s
}

func TestSealerRoundTrip(t *testing.T) {
	s := newSealer(t, sealKey(1))
	for name, plain := range map[string]string{
		"a secret": newSecret(t),
		"empty":    "",
		"unicode":  "sécret ✓",
		"long":     strings.Repeat("x", 10_000),
	} {
		t.Run(name, func(t *testing.T) {
			sealed, err := s.Seal(plain, sealCtx)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(sealed, "v1:"), sealed)
			if plain != "" {
				assert.NotContains(t, sealed, plain)
			}
			got, err := s.Open(sealed, sealCtx)
			require.NoError(t, err)
			assert.Equal(t, plain, got)

			// Another Sealer with the same key (another cold start) opens it.
			got, err = newSealer(t, sealKey(1)).Open(sealed, sealCtx)
			require.NoError(t, err)
			assert.Equal(t, plain, got)
		})
	}
}

func TestSealUsesANewNonceEachTime(t *testing.T) {
	s := newSealer(t, sealKey(1))
	secret := newSecret(t)
	a, err := s.Seal(secret, sealCtx)
	require.NoError(t, err)
	b, err := s.Seal(secret, sealCtx)
	require.NoError(t, err)
	assert.NotEqual(t, a, b)

	rawA, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "v1:"))
	require.NoError(t, err)
	rawB, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(b, "v1:"))
	require.NoError(t, err)
	assert.NotEqual(t, rawA[:12], rawB[:12], "the nonces differ")
	assert.Len(t, rawA, 12+len(secret)+16, "nonce, ciphertext, tag")
}

func TestOpenRefuses(t *testing.T) {
	key := sealKey(1)
	s := newSealer(t, key)
	secret := newSecret(t)
	sealed, err := s.Seal(secret, sealCtx)
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	require.NoError(t, err)
	reseal := func(b []byte) string { return "v1:" + base64.StdEncoding.EncodeToString(b) }
	flipped := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return reseal(b)
	}

	tests := []struct {
		name    string
		opener  *webhooks.Sealer
		sealed  string
		context string
	}{
		{"another endpoint", s, sealed, "org_01KJMDEB80Q4E84Y6DTAJKXSW9/wh_01KKNTWRE00MX2GMA0VE4W6DVP"},
		{"another tenant", s, sealed, "org_01KKNTWRE00MX2GMA0VE4W6DVP/wh_01KJMDEB80Q4E84Y6DTAJKXSW9"},
		{"no context", s, sealed, ""},
		{"wrong key", newSealer(t, sealKey(2)), sealed, sealCtx},
		{"a flipped byte in the nonce", s, flipped(0), sealCtx},
		{"a flipped byte in the ciphertext", s, flipped(12), sealCtx},
		{"a flipped byte in the tag", s, flipped(len(raw) - 1), sealCtx},
		{"truncated by one byte", s, reseal(raw[:len(raw)-1]), sealCtx},
		{"truncated to the nonce", s, reseal(raw[:12]), sealCtx},
		{"empty", s, "", sealCtx},
		{"version only", s, "v1:", sealCtx},
		{"unknown version", s, "v2:" + strings.TrimPrefix(sealed, "v1:"), sealCtx},
		{"no version", s, strings.TrimPrefix(sealed, "v1:"), sealCtx},
		{"not base64", s, "v1:%%%", sealCtx},
		{"the plaintext", s, secret, sealCtx},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.opener.Open(tc.sealed, tc.context)
			require.Error(t, err)
			assert.Empty(t, got)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "webhooks: "), msg)
			assert.NotContains(t, msg, secret)
			assert.NotContains(t, msg, strings.TrimPrefix(secret, "whsec_"))
			assert.NotContains(t, msg, base64.StdEncoding.EncodeToString(key))
		})
	}
}

func TestSealRefusesNoContext(t *testing.T) {
	_, err := newSealer(t, sealKey(1)).Seal("whsec_x", "")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "whsec_x")
}

func TestNewSealerKeyLength(t *testing.T) {
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		_, err := webhooks.NewSealer(make([]byte, n))
		require.Error(t, err, "%d bytes", n)
		assert.Contains(t, err.Error(), "32 bytes")
		assert.True(t, strings.HasPrefix(err.Error(), "webhooks: "), err.Error())
	}
	_, err := webhooks.NewSealer(make([]byte, 32))
	assert.NoError(t, err)
}

func TestSealerOutlivesTheCallersKey(t *testing.T) {
	key := sealKey(1)
	s := newSealer(t, key)
	sealed, err := s.Seal("whsec_x", sealCtx)
	require.NoError(t, err)
	clear(key) // the caller may wipe its copy
	got, err := s.Open(sealed, sealCtx)
	require.NoError(t, err)
	assert.Equal(t, "whsec_x", got)
}

func TestParseSealerKey(t *testing.T) {
	key := sealKey(7)
	enc := base64.StdEncoding.EncodeToString(key)

	for name, in := range map[string]string{"as is": enc, "with a trailing newline": enc + "\n", "padded with spaces": "  " + enc + " "} {
		t.Run(name, func(t *testing.T) {
			got, err := webhooks.ParseSealerKey(in)
			require.NoError(t, err)
			assert.Equal(t, key, got)
		})
	}

	for name, in := range map[string]string{
		"empty":               "",
		"16 bytes":            base64.StdEncoding.EncodeToString(make([]byte, 16)),
		"33 bytes":            base64.StdEncoding.EncodeToString(make([]byte, 33)),
		"raw 32 characters":   "0123456789abcdef0123456789abcdef",
		"url-safe base64":     strings.Repeat("-_", 22),
		"unpadded base64":     base64.RawStdEncoding.EncodeToString(key),
		"a secret, not a key": "whsec_" + enc,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := webhooks.ParseSealerKey(in)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "webhooks: "), err.Error())
			if in != "" {
				assert.NotContains(t, err.Error(), in, "the error never repeats the setting")
			}
		})
	}
}
