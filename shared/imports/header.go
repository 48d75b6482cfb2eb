package imports

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sendwell/sendwell/shared/contacts"
)

// The known columns, as Item.Header stores them. No property key can take
// one of these names: a cell that folds to one is that column.
const (
	colEmail     = "email"
	colFirstName = "firstname"
	colLastName  = "lastname"
	colTags      = "tags"
)

// maxPropertyKey is the longest property key (contacts' [A-Za-z0-9_]{1,64}).
const maxPropertyKey = 64

// parseHeader maps the header row's cells to columns: the known ones
// (email, firstName, lastName, tags) whatever their case, spaces and
// punctuation, and any other cell to the property key propertyKey makes of
// it. A header the import cannot use gives the reason, naming the column,
// instead: no email column, a cell that cannot be a property key, two cells
// for one column, or more property columns than a contact can hold.
func parseHeader(cells []string) (cols []string, reason string) {
	if len(cells) > 0 {
		cells[0] = strings.TrimPrefix(cells[0], "\ufeff") // a byte order mark
	}
	// The email column first: a file without a header row has none, and
	// its reason should not quote the first row's data.
	hasEmail := false
	for _, cell := range cells {
		if col, _ := knownColumn(cell); col == colEmail {
			hasEmail = true
		}
	}
	if !hasEmail {
		return nil, "The CSV's header row has no 'email' column."
	}
	cols = make([]string, len(cells))
	first := map[string]int{} // column (property keys lower-cased) → its first cell
	props := 0
	for i, cell := range cells {
		col, ok := knownColumn(cell)
		if !ok {
			key, why := propertyKey(cell)
			if why != "" {
				return nil, fmt.Sprintf("The CSV's header column %d %s.", i+1, why)
			}
			col = key
			props++
		}
		same := strings.ToLower(col)
		if j, dup := first[same]; dup {
			return nil, fmt.Sprintf("The CSV's header columns %d (%s) and %d (%s) are both the column '%s'; remove or rename one.",
				j+1, quote(cells[j]), i+1, quote(cell), label(col))
		}
		first[same] = i
		cols[i] = col
	}
	if props > contacts.MaxProperties {
		return nil, fmt.Sprintf("The CSV's header has %d columns that become properties; a contact has at most %d.", props, contacts.MaxProperties)
	}
	return cols, ""
}

// knownColumn is the known column a header cell names: the cell folded to
// lower-case ASCII letters and digits ("First Name", "first_name",
// "FIRSTNAME" and " first-name " are all firstname).
func knownColumn(cell string) (string, bool) {
	var b strings.Builder
	for _, r := range cell {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
		}
	}
	switch f := b.String(); f {
	case colEmail, colFirstName, colLastName, colTags:
		return f, true
	}
	return "", false
}

// propertyKey makes a property key matching ^[A-Za-z0-9_]{1,64}$ of a
// header cell: letters, digits and '_' are kept as written (case too); each
// run of spaces and ASCII punctuation becomes one '_', and is dropped at
// either end ("Company Name" → Company_Name, "Plan (2024)" → Plan_2024).
// A cell with no letter or digit, with a character outside ASCII, or whose
// key would be longer than 64 cannot be a key: why says so.
func propertyKey(cell string) (key string, why string) {
	var b strings.Builder
	sep := false
	for _, r := range cell {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			if sep && b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			sep = false
			b.WriteRune(r)
		case r < utf8.RuneSelf || unicode.IsSpace(r):
			sep = true
		default:
			return "", fmt.Sprintf("(%s) cannot be a property name: it has a character other than ASCII letters, digits, spaces and punctuation", quote(cell))
		}
	}
	switch key = b.String(); {
	case strings.TrimSpace(cell) == "":
		return "", "has no name"
	case key == "" || strings.Trim(key, "_") == "":
		return "", fmt.Sprintf("(%s) cannot be a property name: it has no letter or digit", quote(cell))
	case len(key) > maxPropertyKey:
		return "", fmt.Sprintf("(%s) cannot be a property name: it is longer than %d characters", quote(cell), maxPropertyKey)
	}
	return key, ""
}

// label is how reasons name a column.
func label(col string) string {
	switch col {
	case colFirstName:
		return "firstName"
	case colLastName:
		return "lastName"
	}
	return col
}

// quote is a header cell as a reason shows it: quoted, without control
// characters, cut at 40 characters.
func quote(cell string) string {
	cell = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, cell)
	if utf8.RuneCountInString(cell) > 40 {
		cell = string([]rune(cell)[:40]) + "…"
	}
	return "'" + cell + "'"
}
