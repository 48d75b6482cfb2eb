package safehttp_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/webhooks/safehttp"
)

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadBody(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name    string
		body    string
		excerpt string
		n       int64
	}{
		{"empty", "", "", 0},
		{"short", "ok", "ok", 2},
		{"exactly the excerpt", a(1024), a(1024), 1024},
		{"large", a(100 << 10), a(1024), 64 << 10},
		{"two-byte rune across the cut", a(1023) + "é" + a(10), a(1023), 1035},
		{"three-byte rune across the cut", a(1022) + "€" + a(10), a(1022), 1035},
		{"four-byte rune across the cut", a(1021) + "😀" + a(10), a(1021), 1035},
		{"rune ending at the cut", a(1022) + "é" + a(10), a(1022) + "é", 1034},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &countingReader{r: strings.NewReader(c.body)}
			excerpt, n, err := safehttp.ReadBody(r)
			require.NoError(t, err)
			assert.Equal(t, c.excerpt, excerpt)
			assert.True(t, utf8.ValidString(excerpt))
			assert.Equal(t, c.n, n)
			assert.LessOrEqual(t, r.n, int64(safehttp.MaxBodyRead))
		})
	}
}

func TestReadBodyReportsReadErrors(t *testing.T) {
	broken := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader([]byte("partial")), iotest.ErrReader(broken))

	excerpt, n, err := safehttp.ReadBody(r)
	assert.ErrorIs(t, err, broken)
	assert.ErrorContains(t, err, "safehttp: read body")
	assert.Equal(t, "partial", excerpt)
	assert.EqualValues(t, 7, n)
}
