// Command import-worker imports uploaded contact CSVs, fed by the import queue.
package main

import (
	"github.com/sendwell/sendwell/shared/imports/importworker"
	"github.com/sendwell/sendwell/shared/platform"
)

func main() { platform.RunWorker(importworker.Function) }
