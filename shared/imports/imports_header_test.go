package imports

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseHeader(t *testing.T) {
	long := strings.Repeat("x", 65)
	many := []string{"email"}
	for i := range 101 {
		many = append(many, fmt.Sprintf("p%d", i))
	}
	for _, tc := range []struct {
		name   string
		cells  []string
		want   []string
		reason string // a substring of the reason; "" for a usable header
	}{
		{"known columns whatever their case, spaces and punctuation",
			[]string{" Email ", "First Name", "last_name", "TAGS"},
			[]string{colEmail, colFirstName, colLastName, colTags}, ""},
		{"more spellings", []string{"\ufeffE-mail", "FIRSTNAME", "Last-Name", " tags"},
			[]string{colEmail, colFirstName, colLastName, colTags}, ""},
		{"other columns become property keys",
			[]string{"email", "company", "Company Name", " Plan (2024) ", "lead_score", "a.b/c", "x" + strings.Repeat("y", 63)},
			[]string{colEmail, "company", "Company_Name", "Plan_2024", "lead_score", "a_b_c", "x" + strings.Repeat("y", 63)}, ""},
		{"no email column", []string{"name", "company"}, nil, "no 'email' column"},
		{"no email column, without quoting a data row", []string{"ann@example.com", "Ann", "Ann"}, nil, "no 'email' column"},
		{"two email columns", []string{"Email", "e_mail"}, nil, "columns 1 ('Email') and 2 ('e_mail') are both the column 'email'"},
		{"two first names", []string{"email", "First Name", "first_name"}, nil, "columns 2 ('First Name') and 3 ('first_name') are both the column 'firstName'"},
		{"two properties that differ in case only", []string{"email", "Plan", "plan"}, nil, "columns 2 ('Plan') and 3 ('plan') are both the column 'plan'"},
		{"two properties that sanitise alike", []string{"email", "Company Name", "company-name"}, nil, "columns 2 ('Company Name') and 3 ('company-name')"},
		{"a column without a name", []string{"email", "", "plan"}, nil, "column 2 has no name"},
		{"a column of punctuation", []string{"email", "$$$"}, nil, "column 2 ('$$$') cannot be a property name: it has no letter or digit"},
		{"a column outside ASCII", []string{"email", "Prénom"}, nil, "column 2 ('Prénom') cannot be a property name"},
		{"a column too long to be a key", []string{"email", long}, nil, "column 2 ('" + strings.Repeat("x", 40) + "…') cannot be a property name: it is longer than 64"},
		{"more properties than a contact holds", many, nil, "101 columns that become properties; a contact has at most 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cols, reason := parseHeader(append([]string(nil), tc.cells...))
			if tc.reason == "" {
				assert.Empty(t, reason)
				assert.Equal(t, tc.want, cols)
				return
			}
			assert.Nil(t, cols)
			assert.Contains(t, reason, tc.reason)
		})
	}
}

// A header the import cannot use fails the import once, with a reason that
// names the column, before any row is read; a usable one maps its columns
// whatever their spelling.
func TestImportHeaders(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()

	bad := f.newImport("Email,First Name,first_name\nann@example.com,Ann,Annie\nbob@example.com,Bob,Bobby\n")
	require.NoError(t, f.svc.Run(ctx, f.orgID, bad, time.Time{}))
	got := f.get(bad)
	assert.Equal(t, StatusFailed, got.Status)
	require.NotNil(t, got.FailureReason)
	assert.Equal(t, "The CSV's header columns 2 ('First Name') and 3 ('first_name') are both the column 'firstName'; remove or rename one.", *got.FailureReason)
	assert.Zero(t, got.Total)
	assert.Zero(t, got.Processed)
	assert.Zero(t, got.Failed, "no row fails: the import does")
	assert.Empty(t, got.Errors)
	assert.Nil(t, f.contact("ann@example.com"))

	good := f.newImport("\ufeff Email ,First Name,LAST_NAME,Tags,Company Name,plan\n" +
		"ann@example.com,Ann,Lee,vip;beta,Acme,pro\n")
	require.NoError(t, f.svc.Run(ctx, f.orgID, good, time.Time{}))
	done := f.get(good)
	require.Equal(t, StatusCompleted, done.Status, "%v", done.FailureReason)
	assert.Equal(t, 1, done.Created)
	ann := f.contact("ann@example.com")
	require.NotNil(t, ann)
	assert.Equal(t, "Ann", aws.ToString(ann.FirstName))
	assert.Equal(t, "Lee", aws.ToString(ann.LastName))
	assert.Equal(t, []string{"vip", "beta"}, ann.Tags)
	assert.Equal(t, map[string]any{"Company_Name": "Acme", "plan": "pro"}, ann.Properties)
}

// Line numbers in row errors count the line breaks of a quoted header cell.
func TestImportLineNumbersAfterAMultiLineHeader(t *testing.T) {
	f := newFixture(t)
	id := f.newImport("email,\"Company\nName\"\nann@example.com,Acme\nnot-an-email,X\n")
	require.NoError(t, f.svc.Run(t.Context(), f.orgID, id, time.Time{}))
	got := f.get(id)
	require.Equal(t, StatusCompleted, got.Status)
	require.Len(t, got.Errors, 1)
	assert.Equal(t, 4, got.Errors[0].Line, "the header takes lines 1 and 2")
}
