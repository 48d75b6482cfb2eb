// Command automation serves /api/sequences*, /api/enrollments*,
// /api/campaigns*, /api/broadcasts* and a contact's enrollments.
package main

import (
	"github.com/sendwell/sendwell/shared/automation"
	"github.com/sendwell/sendwell/shared/platform"
)

func main() { platform.RunAPI(automation.API) }
