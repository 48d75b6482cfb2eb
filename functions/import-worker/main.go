// Command import-worker imports uploaded contact CSVs, fed by the import queue.
package main

import "github.com/sendwell/sendwell/shared/app"

func main() { app.RunImportWorker() }
