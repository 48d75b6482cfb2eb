// Package tenant carries the authenticated caller (the principal) through a
// request and defines the plans that set each organisation's limits.
package tenant

import "context"

// Kind says how a caller authenticated.
type Kind string

// The two kinds of credentials.
const (
	KindUser   Kind = "user"    // a signed-in user's JWT
	KindAPIKey Kind = "api_key" // an API key
)

// Principal is the authenticated caller of a request.
type Principal struct {
	OrgID  string
	Kind   Kind
	UserID string // set for KindUser
	KeyID  string // set for KindAPIKey
	Plan   string
}

type ctxKey struct{}

// With returns ctx carrying p.
func With(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal of the request; ok is false on public routes.
func From(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(*Principal)
	return p, ok
}

// OrgID is the tenant of an authenticated request ("" on public routes).
func OrgID(ctx context.Context) string {
	if p, ok := From(ctx); ok {
		return p.OrgID
	}
	return ""
}

// Plan is what an organisation pays for: its limits and quotas.
type Plan struct {
	Name               string `json:"name"`
	RateLimitPerMinute int    `json:"rateLimitPerMinute"`
	Quotas             Quotas `json:"quotas"`
}

// Quotas are a plan's caps.
type Quotas struct {
	Contacts        int `json:"contacts"`
	EmailsPerMonth  int `json:"emailsPerMonth"`
	APIKeys         int `json:"apiKeys"`
	EventsPerMonth  int `json:"eventsPerMonth"`
	TemplateVersion int `json:"templateVersions"`
	Webhooks        int `json:"webhooks"` // endpoints
}

// DefaultPlan is the plan a new organisation starts on.
const DefaultPlan = "free"

var plans = map[string]Plan{
	"free":  {Name: "free", RateLimitPerMinute: 100, Quotas: Quotas{Contacts: 2_000, EmailsPerMonth: 3_000, APIKeys: 10, EventsPerMonth: 100_000, TemplateVersion: 50, Webhooks: 1}},
	"pro":   {Name: "pro", RateLimitPerMinute: 1_000, Quotas: Quotas{Contacts: 100_000, EmailsPerMonth: 200_000, APIKeys: 10, EventsPerMonth: 10_000_000, TemplateVersion: 500, Webhooks: 2}},
	"scale": {Name: "scale", RateLimitPerMinute: 6_000, Quotas: Quotas{Contacts: 5_000_000, EmailsPerMonth: 10_000_000, APIKeys: 10, EventsPerMonth: 500_000_000, TemplateVersion: 5_000, Webhooks: 5}},
}

// PlanByName returns the named plan, or the default plan for an unknown name.
func PlanByName(name string) Plan {
	if p, ok := plans[name]; ok {
		return p
	}
	return plans[DefaultPlan]
}
