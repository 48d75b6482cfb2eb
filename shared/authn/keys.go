package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// KeyPrefix starts every live API key.
const KeyPrefix = "sw_live_"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewKey returns a new API key: the prefix and 32 random bytes in base62.
func NewKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("authn: key: %w", err)
	}
	n := new(big.Int).SetBytes(b)
	// 32 bytes need at most 43 base62 digits; pad so every key has one length.
	s := n.Text(62)
	s = strings.Repeat("0", 43-len(s)) + s
	return KeyPrefix + s, nil
}

// HashKey is the SHA-256 of a key, in hex: the only form a key is stored in.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// KeyHint is what identifies a key in lists without revealing it.
func KeyHint(key string) string { return KeyPrefix + "…" + key[len(key)-4:] }

// looksLikeKey reports whether a credential has an API key's form.
func looksLikeKey(s string) bool {
	if !strings.HasPrefix(s, KeyPrefix) || len(s) != len(KeyPrefix)+43 {
		return false
	}
	for _, c := range s[len(KeyPrefix):] {
		if !strings.ContainsRune(base62, c) {
			return false
		}
	}
	return true
}
