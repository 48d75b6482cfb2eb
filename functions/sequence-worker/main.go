// Command sequence-worker consumes the sequence queue: the events that
// enrol, wake and exit contacts, one enrollment step per message, resumes
// of paused sequences and broadcast fan-out pages.
package main

import (
	"github.com/sendwell/sendwell/shared/automation/worker"
	"github.com/sendwell/sendwell/shared/platform"
)

func main() { platform.RunWorker(worker.Function) }
