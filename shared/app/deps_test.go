package app_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/sendwell/sendwell/"

// groups are the resource groups and the domain packages each one owns.
// Everything else under shared/ is the platform kit that any function may
// link (except the packages in neverLinked).
var groups = map[string][]string{
	"auth":      {"shared/auth"},
	"contacts":  {"shared/contacts", "shared/tracking", "shared/imports"},
	"changes":   {"shared/changes"},
	"templates": {"shared/templates"},
	"domains":   {"shared/domains"},
	"messages":  {"shared/messages"},
	// How sends are stored and counted, without the messages service: the
	// changes function reads send items, the automation API its limits and
	// counters.
	"send-store": {"shared/sends"},
	"segments":   {"shared/segments"},
	"webhooks":   {"shared/webhooks"},
	// Sequences, enrollments, campaigns and broadcasts; the sequence worker.
	"automation": {"shared/automation"},
	// The segments' condition language, pure Go: sequences' branches,
	// exit conditions and event triggers are written in it.
	"segment-rules": {"shared/segments/rules"},
	// A sending domain as stored and shown, without the domains group's SES
	// client: the changes function reads it for domain.verified.
	"domain-item": {"shared/domains/domainitem"},
	// How template versions are stored: written by templates, read by the
	// messages functions, which must not link mjml-go.
	"template-store": {"shared/templates/stored"},
}

// functionGroups says which groups each function may link. The changes
// function translates contact, event, import and domain items into domain
// events, so it reads the contacts group's item types and the domain item
// (not the domains group, which links SES), and it queues new sends, so it
// reads the send item (shared/sends). The messages functions read template
// versions through the template store, never the templates group (mjml-go);
// ses-events and the public links unsubscribe contacts through the contacts
// service.
var functionGroups = map[string][]string{
	"auth":          {"auth"},
	"contacts":      {"contacts"},
	"import-worker": {"contacts"},
	"changes":       {"changes", "contacts", "domain-item", "send-store"},
	"public":        {"messages", "contacts", "send-store"},
	"templates":     {"templates", "template-store"},
	"domains":       {"domains", "domain-item"},
	"messages":      {"messages", "template-store", "send-store"},
	"send-worker":   {"messages", "template-store", "send-store"},
	"ses-events":    {"messages", "contacts", "send-store"},
	"scheduler":     {"messages", "send-store"},
	"segments":      {"segments", "segment-rules"},
	// The segment worker reads contacts, events and sends by their stored
	// attributes: it links no other group.
	"segment-worker": {"segments", "segment-rules"},
	"webhooks":       {"webhooks"},
	"webhook-worker": {"webhooks"},
	// The automation API checks the templates a sequence or a broadcast
	// names through the template store.
	"automation": {"automation", "segment-rules", "template-store", "send-store"},
	// The sequence worker sends through the messages service (a send item
	// for the send worker, never SES) and changes contacts through the
	// contacts service, as the API would.
	"sequence-worker": {"automation", "segment-rules", "messages", "template-store", "contacts", "send-store"},
}

// publicServices are the only AWS SDK service packages the public function
// may link: it records opens, clicks and unsubscribes in the table
// (DynamoDB; attributevalue brings the streams' types) and reads the JWT
// secret with awsx.ReadParameter, which needs no SSM client. No SES, SQS or
// S3 client: a link's request never sends mail or queues work.
var publicServices = []string{
	"github.com/aws/aws-sdk-go-v2/service/dynamodb",
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams",
	"github.com/aws/aws-sdk-go-v2/service/internal/",
}

// neverLinked are packages no function may link: the list of all groups
// (local server and tests only) and the local emulation.
var neverLinked = []string{"shared/app", "shared/testenv", "shared/localaws"}

// heavy are dependencies only some functions may link.
var heavy = map[string][]string{
	"github.com/Boostport/mjml-go": {"templates"}, // about 0.9 s and 170 MB at init
	"golang.org/x/crypto/argon2":   {"auth"},      // passwords are the auth group's
}

// Each function links only its own group: `go list -deps` over every
// function, checked against the table above.
func TestEachFunctionLinksOnlyItsOwnGroup(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "functions", "*"))
	require.NoError(t, err)
	var found []string
	for _, d := range dirs {
		found = append(found, filepath.Base(d))
	}
	slices.Sort(found)
	require.ElementsMatch(t, found, keys(functionGroups), "every function has a row in functionGroups, and every row a function")

	owner := map[string]string{}
	for g, pkgs := range groups {
		for _, p := range pkgs {
			owner[module+p] = g
		}
	}
	for _, fn := range found {
		t.Run(fn, func(t *testing.T) {
			deps := goListDeps(t, "./functions/"+fn)
			for _, dep := range deps {
				if g, ok := groupOf(owner, dep); ok {
					assert.Contains(t, functionGroups[fn], g, "%s links %s, of the %s group", fn, dep, g)
				}
				for _, p := range neverLinked {
					assert.NotEqual(t, module+p, dep, "%s links %s", fn, dep)
				}
				for prefix, allowed := range heavy {
					if strings.HasPrefix(dep, prefix) {
						assert.Contains(t, allowed, fn, "%s links %s", fn, dep)
					}
				}
				if fn == "public" && strings.HasPrefix(dep, "github.com/aws/aws-sdk-go-v2/service/") {
					assert.True(t, slices.ContainsFunc(publicServices, func(p string) bool { return dep == p || strings.HasPrefix(dep, strings.TrimSuffix(p, "/")+"/") }),
						"public links only DynamoDB of the AWS SDK's clients: %s", dep)
				}
			}
		})
	}
}

func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	require.NoError(t, err, "go list -deps %s", pkg)
	return strings.Fields(string(out))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// groupOf is the group owning pkg: a group's package or one below it, the
// longest such package winning (shared/templates/stored is not templates).
func groupOf(owner map[string]string, pkg string) (string, bool) {
	best, group := "", ""
	for p, g := range owner {
		if (pkg == p || strings.HasPrefix(pkg, p+"/")) && len(p) > len(best) {
			best, group = p, g
		}
	}
	return group, best != ""
}
