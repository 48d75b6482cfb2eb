package errs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sendwell/sendwell/shared/errs"
)

func TestRetryable(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"unavailable", errs.NewUnavailable(1, errors.New("throttled")), true},
		{"wrapped unavailable", fmt.Errorf("store: get: %w", errs.NewUnavailable(2, nil)), true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"unknown", errors.New("connection reset"), true},
		{"validation", errs.Invalid("email", "bad"), false},
		{"unprocessable", &errs.Unprocessable{Message: "full"}, false},
		{"rate limited", &errs.RateLimited{RetryAfter: 3}, false},
		{"not found", fmt.Errorf("x: %w", errs.ErrNotFound), false},
		{"conflict", errs.NewConflict("taken"), false},
		{"unauthorised", errs.NewUnauthorised("no"), false},
		{"forbidden", errs.ErrForbidden, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, errs.Retryable(c.err))
		})
	}
}

func TestUnavailableKeepsItsCause(t *testing.T) {
	cause := errors.New("ProvisionedThroughputExceededException")
	err := fmt.Errorf("store: put: %w", errs.NewUnavailable(1, cause))
	assert.ErrorIs(t, err, cause)
	assert.Equal(t, "store: put: unavailable, retry after 1s: ProvisionedThroughputExceededException", err.Error())
	var un *errs.Unavailable
	assert.ErrorAs(t, err, &un)
	assert.Equal(t, 1, un.RetryAfter)
}
