package auth

import (
	"time"

	"github.com/sendwell/sendwell/shared/store"
)

// orgItem is an organisation (tenant).
type orgItem struct {
	store.Key
	ID         string    `dynamodbav:"id"`
	Name       string    `dynamodbav:"name"`
	Plan       string    `dynamodbav:"plan"`
	ActiveKeys int       `dynamodbav:"activeKeys"`
	CreatedAt  time.Time `dynamodbav:"createdAt"`
}

// userItem is a user in its organisation's partition.
type userItem struct {
	store.Key
	ID        string    `dynamodbav:"id"`
	OrgID     string    `dynamodbav:"orgId"`
	Email     string    `dynamodbav:"email"`
	Name      string    `dynamodbav:"name"`
	Role      string    `dynamodbav:"role"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
}

// loginItem is the global email → user lookup, holding what login needs in
// one read.
type loginItem struct {
	store.Key
	UserID       string `dynamodbav:"userId"`
	OrgID        string `dynamodbav:"orgId"`
	PasswordHash string `dynamodbav:"passwordHash"`
}

// apiKeyItem is an API key in its organisation's partition; the key itself is
// never stored, only its hash.
type apiKeyItem struct {
	store.Key
	ID         string     `dynamodbav:"id"`
	Name       string     `dynamodbav:"name"`
	Hint       string     `dynamodbav:"hint"`
	Hash       string     `dynamodbav:"hash"`
	CreatedBy  string     `dynamodbav:"createdBy"`
	CreatedAt  time.Time  `dynamodbav:"createdAt"`
	LastUsedAt *time.Time `dynamodbav:"lastUsedAt,omitempty"`
}
