// Command webhooks serves /api/webhooks*: endpoints, their secrets, test
// deliveries and the delivery log.
package main

import (
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/webhooks"
)

func main() { platform.RunAPI(webhooks.API) }
