package model

import "context"

// Actor is the person a request is served for. Tenancy is derived from it in
// the store: every query is limited to the subtree rooted at the actor.
type Actor struct {
	AccountID        int64
	Role             Role
	Username         string
	DistributorID    int64 // 0 for the admin
	SubdistributorID int64 // 0 above the sub-distributor level
	// Real is set when someone acts on the actor's behalf ("access without
	// password"): the audit log records both.
	Real *Actor
	// Epoch is the account's credential epoch as the request authenticated
	// (Account.CredentialEpoch): what the sessions and tokens it makes carry.
	Epoch int64
}

// ActorOf derives the tenancy identity of an account.
func ActorOf(a *Account) *Actor {
	return &Actor{
		AccountID: a.ID, Role: a.Role, Username: a.Username,
		DistributorID: a.DistributorID, SubdistributorID: a.SubdistributorID, Epoch: a.CredentialEpoch,
	}
}

// System is the actor of command-line and background work: it sees everything.
var System = &Actor{Role: RoleAdmin, Username: "system"}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor of ctx, or nil.
func ActorFrom(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}
