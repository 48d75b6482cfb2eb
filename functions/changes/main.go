// Command changes turns the table's stream into domain events.
package main

import (
	"github.com/sendwell/sendwell/shared/changes"
	"github.com/sendwell/sendwell/shared/platform"
)

func main() { platform.RunWorker(changes.Consumer) }
