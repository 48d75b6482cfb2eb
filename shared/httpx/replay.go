package httpx

import (
	"context"
	"sync/atomic"
)

type replayKey struct{}

// WithReplayFlag returns a context in which a handler can forbid storing its
// response for idempotent replay.
func WithReplayFlag(ctx context.Context) (context.Context, *atomic.Bool) {
	var forbidden atomic.Bool
	return context.WithValue(ctx, replayKey{}, &forbidden), &forbidden
}

// ForbidReplay marks the response as one never to store (it carries a secret).
func ForbidReplay(ctx context.Context) {
	if f, ok := ctx.Value(replayKey{}).(*atomic.Bool); ok {
		f.Store(true)
	}
}
