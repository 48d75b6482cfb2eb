package webhooks

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Endpoint secrets must be stored so the worker can sign with them, unlike
// API keys, which are stored hashed. They are sealed with a key kept out of
// the table (SSM Parameter Store in AWS, the environment locally), so a copy
// of the table alone does not let anyone forge deliveries.

// sealerKeyBytes is the size of an AES-256 key.
const sealerKeyBytes = 32

// sealVersion starts every sealed secret: the format, AES-256-GCM with a
// random nonce, so another can follow without ambiguity.
const sealVersion = "v1:"

// Sealer encrypts endpoint secrets at rest with AES-256-GCM. Make one with
// NewSealer; it is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer with key, which must be exactly 32 bytes
// (AES-256): a shorter key would silently select a weaker AES.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != sealerKeyBytes {
		return nil, fmt.Errorf("webhooks: the sealing key must be exactly %d bytes, not %d", sealerKeyBytes, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("webhooks: sealing key: %w", err)
	}
	// The random 96-bit nonce is prepended to the ciphertext: it is safe
	// for far more seals than there will ever be secrets.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("webhooks: sealing key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// ParseSealerKey reads the sealing key setting: standard base64 of 32
// bytes (surrounding white space ignored, as a parameter pasted from a file
// may end in a newline). The error never repeats the value.
func ParseSealerKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) != sealerKeyBytes {
		return nil, fmt.Errorf("webhooks: the sealing key must be %d bytes in standard base64 (openssl rand -base64 %d)", sealerKeyBytes, sealerKeyBytes)
	}
	return key, nil
}

// Seal encrypts plaintext and returns "v1:" and the base64 of the nonce
// and ciphertext. context is bound to it as additional data and must be
// given again to Open: callers pass "<orgID>/<webhookID>", so a sealed
// secret copied to another endpoint or tenant does not open there.
func (s *Sealer) Seal(plaintext, context string) (string, error) {
	if context == "" {
		return "", errors.New("webhooks: seal: no context")
	}
	out := s.aead.Seal(nil, nil, []byte(plaintext), []byte(context))
	return sealVersion + base64.StdEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal returned for the same context. A wrong context
// or key, a changed byte or an unknown format is an error, which says
// neither the secret nor the key.
func (s *Sealer) Open(sealed, context string) (string, error) {
	if context == "" {
		return "", errors.New("webhooks: open: no context")
	}
	enc, ok := strings.CutPrefix(sealed, sealVersion)
	if !ok {
		return "", errors.New("webhooks: open: not a sealed secret of a known version")
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", errors.New("webhooks: open: the sealed secret is not valid base64")
	}
	plain, err := s.aead.Open(nil, nil, raw, []byte(context))
	if err != nil {
		// GCM tells nothing more, by design: a wrong key, a wrong context
		// and tampering are indistinguishable.
		return "", errors.New("webhooks: open: the sealed secret does not open with this key and context (wrong key, another endpoint's secret, or altered)")
	}
	return string(plain), nil
}
