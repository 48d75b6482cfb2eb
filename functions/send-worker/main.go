// Command send-worker sends one email per send queue message through SES v2.
package main

import (
	"github.com/sendwell/sendwell/shared/messages/sendworker"
	"github.com/sendwell/sendwell/shared/platform"
)

func main() { platform.RunWorker(sendworker.Function) }
