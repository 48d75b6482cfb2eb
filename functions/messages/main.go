// Command messages is the Lambda serving the messages group behind API
// Gateway: sends, send history, scheduled sends, the suppression list and
// template test sends.
package main

import (
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/platform"
)

func main() { platform.RunAPI(messages.API) }
