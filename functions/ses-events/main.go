// Command ses-events records SES's events (EventBridge) on the sends they
// are about: statuses, timelines, suppression and counters.
package main

import (
	"github.com/sendwell/sendwell/shared/messages/sesevents"
	"github.com/sendwell/sendwell/shared/platform"
)

func main() { platform.RunWorker(sesevents.Function) }
