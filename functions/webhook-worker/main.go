// Command webhook-worker delivers webhooks: it fans each domain event out
// to the endpoints that subscribe to it and makes every delivery's
// attempts, on the schedule, signed.
package main

import (
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/webhooks"
)

func main() { platform.RunWorker(webhooks.WorkerFunction) }
