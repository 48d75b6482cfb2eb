package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sendwell/sendwell/shared/auth"
	"github.com/sendwell/sendwell/shared/awsx"
	"github.com/sendwell/sendwell/shared/errs"
	"github.com/sendwell/sendwell/shared/store"
)

// DynamoDB cancels a transaction that meets another one on the same items
// (TransactionConflict), and throttles; moto does neither, so these tests
// inject both with awsx.Faults.

const opTransact = "DynamoDB.TransactWriteItems"

// activeKeys is the organisation's count of active API keys, as stored.
func activeKeys(t *testing.T, a *api, orgID string) int {
	t.Helper()
	var org struct {
		ActiveKeys int `dynamodbav:"activeKeys"`
	}
	require.NoError(t, a.env.Store.Get(t.Context(), store.OrgKey(orgID), &org))
	return org.ActiveKeys
}

func TestSignupRetriesATransactionConflict(t *testing.T) {
	f := awsx.NewFaults()
	a := newAPI(t, withFaults(f))
	f.FailNth(opTransact, 1, awsx.TransactionConflict)
	a.signup("tx@example.com")
	assert.Equal(t, 1, f.Fired(opTransact))
	assert.Equal(t, 2, f.Attempts(opTransact), "sent again after the conflict")
	r := a.do("POST", "/api/auth/login", map[string]string{"email": "tx@example.com", "password": rightPassword})
	assert.Equal(t, http.StatusOK, r.Status, "the account was written whole")
}

// Conflicts that outlast the retries answer 409 asking for a retry (not
// "this email exists"), and write nothing: the same signup then succeeds.
func TestSignupUnderPersistentConflictsIs409AndWritesNothing(t *testing.T) {
	f := awsx.NewFaults()
	a := newAPI(t, withFaults(f))
	f.FailNext(opTransact, store.TransactAttempts, awsx.TransactionConflict)
	body := map[string]string{"email": "busy@example.com", "password": rightPassword, "name": "B", "organisation": "O"}
	r := a.do("POST", "/api/auth/signup", body)
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "CONFLICT", r.ErrCode(t))
	assert.Equal(t, "The resource was changed by a concurrent request; retry.", r.ErrMessage(t))
	assert.Equal(t, store.TransactAttempts, f.Attempts(opTransact))

	assert.Equal(t, http.StatusCreated, a.do("POST", "/api/auth/signup", body).Status, "nothing of the first try was written")
}

func TestCreateKeyRetriesATransactionConflict(t *testing.T) {
	f := awsx.NewFaults()
	a := newAPI(t, withFaults(f))
	s := a.signup("keys@example.com")
	before := f.Attempts(opTransact)
	f.FailNth(opTransact, 1, awsx.TransactionConflict)
	_, key := a.newKey(s, "k")
	assert.Equal(t, 2, f.Attempts(opTransact)-before, "sent again after the conflict")
	assert.Equal(t, 1, activeKeys(t, a, s.OrgID), "counted once")
	assert.Equal(t, http.StatusOK, a.do("GET", "/api/users/me", nil, "X-Api-Key", key).Status)
}

func TestCreateKeyUnderPersistentConflictsIs409AndWritesNothing(t *testing.T) {
	f := awsx.NewFaults()
	a := newAPI(t, withFaults(f))
	s := a.signup("keys@example.com")
	f.FailNext(opTransact, store.TransactAttempts, awsx.TransactionConflict)
	r := a.do("POST", "/api/api-keys", map[string]string{"name": "k"}, bearer(s.Token)...)
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "CONFLICT", r.ErrCode(t))
	assert.Equal(t, 0, activeKeys(t, a, s.OrgID))
	list := a.do("GET", "/api/api-keys", nil, bearer(s.Token)...).JSON(t)["data"].([]any)
	assert.Empty(t, list)

	a.newKey(s, "k")
	assert.Equal(t, 1, activeKeys(t, a, s.OrgID))
}

func TestDeleteKeyRetriesATransactionConflict(t *testing.T) {
	f := awsx.NewFaults()
	a := newAPI(t, withFaults(f))
	s := a.signup("keys@example.com")
	id, key := a.newKey(s, "k")
	before := f.Attempts(opTransact)
	f.FailNth(opTransact, 1, awsx.TransactionConflict)
	require.Equal(t, http.StatusNoContent, a.do("DELETE", "/api/api-keys/"+id, nil, bearer(s.Token)...).Status)
	assert.Equal(t, 2, f.Attempts(opTransact)-before, "sent again after the conflict")
	assert.Equal(t, 0, activeKeys(t, a, s.OrgID))
	assert.Equal(t, http.StatusUnauthorized, a.do("GET", "/api/users/me", nil, "X-Api-Key", key).Status)
}

// A delete lost to persistent conflicts is a 409, not a 404 ("already
// deleted"): the key and its count are untouched, and it can be deleted
// again.
func TestDeleteKeyUnderPersistentConflictsIs409AndKeepsTheKey(t *testing.T) {
	f := awsx.NewFaults()
	a := newAPI(t, withFaults(f))
	s := a.signup("keys@example.com")
	id, key := a.newKey(s, "k")
	f.FailNext(opTransact, store.TransactAttempts, awsx.TransactionConflict)
	r := a.do("DELETE", "/api/api-keys/"+id, nil, bearer(s.Token)...)
	assert.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "CONFLICT", r.ErrCode(t))
	assert.Equal(t, 1, activeKeys(t, a, s.OrgID))
	cold := newAPIOn(t, a.env, a.clock) // an instance that has not cached the key
	assert.Equal(t, http.StatusOK, cold.do("GET", "/api/users/me", nil, "X-Api-Key", key).Status, "the key still works")

	require.Equal(t, http.StatusNoContent, a.do("DELETE", "/api/api-keys/"+id, nil, bearer(s.Token)...).Status)
	assert.Equal(t, 0, activeKeys(t, a, s.OrgID))
}

// Throttling of the counters' UpdateItem, after the SDK's own retries, is a
// 503 with Retry-After, never a 500: on the tenant's rate limit and on the
// login throttle.
func TestThrottledCountersAnswer503(t *testing.T) {
	for _, fault := range []awsx.Fault{awsx.Throttling, awsx.ProvisionedThroughputExceeded, awsx.InternalServerError} {
		t.Run(fault.String(), func(t *testing.T) {
			f := awsx.NewFaults()
			a := newAPI(t, withFaults(f))
			s := a.signup("busy@example.com")
			f.FailFrom("DynamoDB.UpdateItem", 1, fault)

			r := a.do("GET", "/api/users/me", nil, bearer(s.Token)...)
			assert.Equal(t, http.StatusServiceUnavailable, r.Status, "rate limit")
			assert.Equal(t, "SERVICE_UNAVAILABLE", r.ErrCode(t))
			assert.Equal(t, "1", r.Header.Get("Retry-After"))
			assert.Equal(t, 3, f.Attempts("DynamoDB.UpdateItem"), "the SDK retried before giving up")

			r = a.do("POST", "/api/auth/login", map[string]string{"email": "busy@example.com", "password": rightPassword})
			assert.Equal(t, http.StatusServiceUnavailable, r.Status, "login throttle")
			assert.Equal(t, "SERVICE_UNAVAILABLE", r.ErrCode(t))
			assert.Equal(t, "1", r.Header.Get("Retry-After"))
		})
	}
}

// When the email's counter is throttled after the address's counter took
// the attempt, the address's reservation is given back: the attempt, never
// checked, costs nothing.
func TestALoginRefusedHalfwayGivesItsReservationBack(t *testing.T) {
	f := awsx.NewFaults()
	a := newAPI(t, withFaults(f))
	a.signup("half@example.com")
	for n := 2; n <= 4; n++ { // the email's counter, and the SDK's two retries
		f.FailNth("DynamoDB.UpdateItem", n, awsx.Throttling)
	}
	r := a.do("POST", "/api/auth/login", map[string]string{"email": "half@example.com", "password": rightPassword})
	require.Equal(t, http.StatusServiceUnavailable, r.Status)
	assert.Equal(t, 5, f.Attempts("DynamoDB.UpdateItem"), "address, email ×3, give-back")

	var counter struct {
		N int `dynamodbav:"n"`
	}
	window := a.clock.Now().Truncate(auth.LoginWindow)
	require.NoError(t, a.env.Store.Get(t.Context(), store.LoginFailSourceKey("half@example.com", "127.0.0.1", window), &counter))
	assert.Equal(t, 0, counter.N, "given back")
	err := a.env.Store.Get(t.Context(), store.LoginFailKey("half@example.com", window), &counter)
	assert.ErrorIs(t, err, errs.ErrNotFound, "the email's counter was never written")

	a.clock.Advance(time.Second)
	assert.Equal(t, http.StatusOK, a.do("POST", "/api/auth/login", map[string]string{"email": "half@example.com", "password": rightPassword}).Status)
}
