package auth

import (
	"time"
	"unicode/utf8"

	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/tenant"
	"github.com/sendwell/sendwell/shared/validate"
)

// User is a user as the API shows it.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
}

// Organisation is a tenant as the API shows it.
type Organisation struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Plan      string    `json:"plan"`
	CreatedAt time.Time `json:"createdAt"`
}

// APIKey is an API key as lists show it: never the key itself.
type APIKey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Hint       string     `json:"hint"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

// NewAPIKey is the answer to creating a key: the only time the key is shown.
type NewAPIKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Key       string    `json:"key"`
	Hint      string    `json:"hint"`
	CreatedAt time.Time `json:"createdAt"`
}

// Session is the answer to signup, login and refresh.
type Session struct {
	Token        string        `json:"token"`
	ExpiresAt    time.Time     `json:"expiresAt"`
	User         *User         `json:"user,omitempty"`
	Organisation *Organisation `json:"organisation,omitempty"`
}

// Me is the answer to GET /api/users/me.
type Me struct {
	User         *User        `json:"user"`
	APIKey       *APIKey      `json:"apiKey"`
	Organisation Organisation `json:"organisation"`
	Plan         tenant.Plan  `json:"plan"`
	Usage        Usage        `json:"usage"`
}

// Usage is an organisation's use of its plan's quotas: the monthly ones
// this UTC month, and the contacts it has.
type Usage struct {
	EmailsThisMonth int `json:"emailsThisMonth"`
	Contacts        int `json:"contacts"`
}

// SignupRequest is the body of POST /api/auth/signup.
type SignupRequest struct {
	Email        string `json:"email"`
	Password     string `json:"password"`
	Name         string `json:"name"`
	Organisation string `json:"organisation"`
}

// Validate checks the fields and normalises the email.
func (r *SignupRequest) Validate() error {
	var err error
	if r.Email, err = validate.Email("email", r.Email); err != nil {
		return err
	}
	if r.Password == "" {
		return errs.Required("password")
	}
	if n := utf8.RuneCountInString(r.Password); n < 10 || n > 128 {
		return errs.Invalid("password", "The 'password' field must be 10 to 128 characters long.")
	}
	if err := validate.Text("name", &r.Name, 100); err != nil {
		return err
	}
	return validate.Text("organisation", &r.Organisation, 100)
}

// LoginRequest is the body of POST /api/auth/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`

	// Source is the address the attempt comes from (SourceAddress), set by
	// the handler from the connection, never from the body: the login
	// throttle counts attempts per email and source. Empty for a login made
	// inside the process.
	Source string `json:"-"`
}

// Validate checks the fields are present and normalises the email.
func (r *LoginRequest) Validate() error {
	var err error
	if r.Email, err = validate.Email("email", r.Email); err != nil {
		return err
	}
	if r.Password == "" {
		return errs.Required("password")
	}
	if len(r.Password) > 512 {
		return errs.Invalid("password", "The 'password' field is too long.")
	}
	return nil
}

// CreateKeyRequest is the body of POST /api/api-keys.
type CreateKeyRequest struct {
	Name string `json:"name"`
}

// Validate checks the name.
func (r *CreateKeyRequest) Validate() error { return validate.Text("name", &r.Name, 100) }
