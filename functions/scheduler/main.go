// Command scheduler puts due scheduled sends on the send queue, every minute
// (EventBridge rate(1 minute)).
package main

import (
	"github.com/sendwell/sendwell/shared/messages/scheduler"
	"github.com/sendwell/sendwell/shared/platform"
)

func main() { platform.RunWorker(scheduler.Function) }
