// Command segment-worker keeps segment memberships exact: it consumes the
// domain-events queue and the segment queue (builds, purges, and the
// scheduler's re-evaluations when a time window flips).
package main

import (
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/segments/worker"
)

func main() { platform.RunWorker(worker.Function) }
