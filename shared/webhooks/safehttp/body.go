package safehttp

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Limits of ReadBody.
const (
	// MaxBodyRead is the most of a response body ReadBody reads: enough to
	// let a small response finish, too little for a hostile one to matter.
	MaxBodyRead = 64 << 10
	// ExcerptSize is the most of a response body kept as its excerpt.
	ExcerptSize = 1 << 10
)

// ReadBody reads at most MaxBodyRead bytes of a response body and returns
// its first ExcerptSize bytes as an excerpt to store, with n the number of
// bytes read. The excerpt is valid UTF-8: a rune cut at the end is dropped
// and invalid bytes become U+FFFD. On a read error, the excerpt of what was
// read comes with it. The caller closes the body.
func ReadBody(r io.Reader) (excerpt string, n int64, err error) {
	r = io.LimitReader(r, MaxBodyRead)
	buf := make([]byte, ExcerptSize)
	m, err := io.ReadFull(r, buf)
	n = int64(m)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		err = nil // the body is shorter than the excerpt
	case err == nil:
		var rest int64
		rest, err = io.Copy(io.Discard, r)
		n += rest
	}
	if err != nil {
		err = fmt.Errorf("safehttp: read body: %w", err)
	}
	return strings.ToValidUTF8(string(trimPartialRune(buf[:m])), "\uFFFD"), n, err
}

// trimPartialRune drops the start of a multi-byte rune that b's end cut off.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}
