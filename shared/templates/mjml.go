package templates

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/Boostport/mjml-go"

	"github.com/sendwell/sendwell/shared/errs"
)

// This file is the one place that uses mjml-go. Its package init
// decompresses and compiles MJML's WebAssembly (about 0.9 s and 130-170 MB),
// so only the templates function may link it (TestEachFunctionLinksOnlyItsOwnGroup).

// MJMLCompiles counts the MJML compilations this process has run: a figure
// for metrics, and how the tests prove an unchanged PUT compiles nothing.
var MJMLCompiles atomic.Int64

// CompileMJML compiles MJML to HTML. MJML's soft validation reports each
// problem with its line; a problem with an attribute (unknown, or an invalid
// value, which MJML ignores or falls back from) is a warning and the HTML
// is still made, any other (an unknown element, an element where it may
// not be) is an *errs.Unprocessable listing every problem with its line, in
// part "html". Source MJML cannot parse at all is a 422 without a line.
func CompileMJML(ctx context.Context, src string) (string, []Warning, error) {
	MJMLCompiles.Add(1)
	html, err := mjml.ToHTML(ctx, src)
	if err == nil {
		return html, nil, nil
	}
	var me mjml.Error
	if !errors.As(err, &me) {
		return "", nil, fmt.Errorf("templates: compile mjml: %w", err)
	}
	if len(me.Details) == 0 {
		return "", nil, &errs.Unprocessable{Message: "The MJML is invalid: " + me.Message,
			Details: []errs.Problem{{Part: "html", Message: me.Message}}}
	}
	var warnings []Warning
	var problems []errs.Problem
	for _, d := range me.Details {
		if strings.HasPrefix(d.Message, "Attribute ") {
			warnings = append(warnings, Warning{Line: d.Line, Message: d.Message})
			continue
		}
		problems = append(problems, errs.Problem{Part: "html", Line: d.Line, Message: d.Message})
	}
	if len(problems) > 0 {
		return "", nil, &errs.Unprocessable{Message: fmt.Sprintf("The MJML is invalid: %d problem(s), listed in details.", len(problems)), Details: problems}
	}
	// Warnings only: mjml-go drops the HTML MJML made alongside them, so
	// compile again without validation to get it.
	html, err = mjml.ToHTML(ctx, src, mjml.WithValidationLevel(mjml.Skip))
	if err != nil {
		return "", nil, fmt.Errorf("templates: compile mjml without validation: %w", err)
	}
	return html, warnings, nil
}
