package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Signatures follow Standard Webhooks (standardwebhooks.com), so receivers
// can verify deliveries with any of its libraries instead of code of ours.

// SecretPrefix starts every endpoint secret, as Standard Webhooks' libraries
// expect; the rest is the key in standard base64.
const SecretPrefix = "whsec_"

// Sizes of an endpoint secret's key. Standard Webhooks asks for 24 to 64
// bytes; ours are 32, and anything outside the range is a corrupt secret.
const (
	sigSecretBytes = 32
	sigMinKeyBytes = 24
	sigMaxKeyBytes = 64
)

// Headers of a delivery, and the user agent, with a version receivers can
// match on.
const (
	sigHeaderID        = "webhook-id"
	sigHeaderTimestamp = "webhook-timestamp"
	sigHeaderSignature = "webhook-signature"
	sigUserAgent       = "Sendwell-Webhooks/1"
)

// NewSecret returns a new endpoint secret: SecretPrefix and 32 random bytes
// in standard base64.
func NewSecret() (string, error) {
	b := make([]byte, sigSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhooks: new secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// SecretBytes is the HMAC key of an endpoint secret. A secret without the
// prefix, not in standard base64, or of a key size Standard Webhooks does
// not allow is an error that never repeats the secret.
func SecretBytes(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New("webhooks: malformed secret: it must start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, errors.New("webhooks: malformed secret: not standard base64")
	}
	if len(key) < sigMinKeyBytes || len(key) > sigMaxKeyBytes {
		return nil, fmt.Errorf("webhooks: malformed secret: its key must be %d to %d bytes, not %d", sigMinKeyBytes, sigMaxKeyBytes, len(key))
	}
	return key, nil
}

// Sign is the webhook-signature header of a delivery: one "v1,<base64
// HMAC-SHA256>" per secret over msgID, the Unix time at and body joined by
// dots, separated by spaces in the order given. The caller lists the
// current secret first, then a rotated-out one still within its overlap,
// so a receiver that has either verifies the delivery.
func Sign(secrets []string, msgID string, at time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("webhooks: sign: no secret")
	}
	if msgID == "" {
		return "", errors.New("webhooks: sign: no message id")
	}
	signed := sigContent(msgID, at, body)
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		key, err := SecretBytes(s)
		if err != nil {
			return "", fmt.Errorf("webhooks: sign with secret %d: %w", i+1, err)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write(signed)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// sigContent is what a signature covers: "<msgID>.<unix seconds>.<body>".
func sigContent(msgID string, at time.Time, body []byte) []byte {
	ts := strconv.FormatInt(at.Unix(), 10)
	b := make([]byte, 0, len(msgID)+len(ts)+len(body)+2)
	b = append(b, msgID...)
	b = append(b, '.')
	b = append(b, ts...)
	b = append(b, '.')
	return append(b, body...)
}

// Headers are the HTTP headers of a delivery of body: its id, time and
// signatures (see Sign), its JSON content type and Sendwell's user agent.
// Every attempt of one delivery should carry the same msgID, so receivers
// can drop the deliveries they have already processed.
func Headers(secrets []string, msgID string, at time.Time, body []byte) (http.Header, error) {
	sig, err := Sign(secrets, msgID, at, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(sigHeaderID, msgID)
	h.Set(sigHeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(sigHeaderSignature, sig)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", sigUserAgent)
	return h, nil
}
