// Package app is the one list of every resource group, for the local server
// (`make run`) and the tests: they serve the whole API from one process.
// No function imports it; each function's main names its own group, so a
// binary links only what it serves.
package app

import (
	"fmt"

	"github.com/sendwell/sendwell/shared/auth"
	"github.com/sendwell/sendwell/shared/automation"
	"github.com/sendwell/sendwell/shared/contacts"
	"github.com/sendwell/sendwell/shared/domains"
	"github.com/sendwell/sendwell/shared/httpx"
	"github.com/sendwell/sendwell/shared/imports"
	"github.com/sendwell/sendwell/shared/messages"
	"github.com/sendwell/sendwell/shared/messages/links"
	"github.com/sendwell/sendwell/shared/platform"
	"github.com/sendwell/sendwell/shared/public"
	"github.com/sendwell/sendwell/shared/segments"
	"github.com/sendwell/sendwell/shared/templates"
	"github.com/sendwell/sendwell/shared/tracking"
	"github.com/sendwell/sendwell/shared/webhooks"
)

// Functions names each API function and the groups it serves, as its
// functions/<name>/main.go does.
var Functions = map[string][]platform.API{
	"auth":       {auth.API},
	"contacts":   {contacts.API, tracking.API, imports.API},
	"templates":  {templates.API},
	"domains":    {domains.API},
	"messages":   {messages.API},
	"public":     {public.API, links.API},
	"segments":   {segments.API},
	"webhooks":   {webhooks.API},
	"automation": {automation.API},
}

// Router returns the router of one API function, as its Lambda serves it.
func Router(d *platform.Deps, function string) (*httpx.Router, error) {
	apis, ok := Functions[function]
	if !ok {
		return nil, fmt.Errorf("app: no function %q", function)
	}
	rt := d.Router()
	return rt, platform.Mount(d, rt, apis...)
}

// All returns one router serving every route, public ones included.
func All(d *platform.Deps) (*httpx.Router, error) {
	rt := d.Router()
	for _, apis := range Functions {
		if err := platform.Mount(d, rt, apis...); err != nil {
			return nil, err
		}
	}
	return rt, nil
}
