package store

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// errNoActor fails closed: a query without an actor is a programming error.
var errNoActor = errors.New("store: no actor in context")

func actor(ctx context.Context) (*model.Actor, error) {
	a := model.ActorFrom(ctx)
	if a == nil {
		return nil, errNoActor
	}
	return a, nil
}

// accountScope limits rows of the accounts table (aliased as alias) to the
// actor's subtree, the actor included. The ancestor columns make it one
// indexed comparison at every level.
func accountScope(a *model.Actor, alias string) (string, []any) {
	switch a.Role {
	case model.RoleAdmin:
		return "1=1", nil
	case model.RoleDistributor:
		return alias + ".distributor_id = ?", []any{a.AccountID}
	case model.RoleSubdistributor:
		return alias + ".subdistributor_id = ?", []any{a.AccountID}
	default:
		return alias + ".id = ?", []any{a.AccountID}
	}
}

// installerScope limits rows owned by an installer (column col holds the
// installer id) to installers in the actor's subtree.
func installerScope(a *model.Actor, col string) (string, []any) {
	switch a.Role {
	case model.RoleAdmin:
		return "1=1", nil
	case model.RoleInstaller:
		return col + " = ?", []any{a.AccountID}
	default:
		cond, args := accountScope(a, "sa")
		return col + " IN (SELECT sa.id FROM accounts sa WHERE sa.role = 'installer' AND " + cond + ")", args
	}
}

// auditScope limits audit entries to those of the actor's subtree.
func auditScope(a *model.Actor) (string, []any) {
	switch a.Role {
	case model.RoleAdmin:
		return "1=1", nil
	case model.RoleDistributor:
		return "l.distributor_id = ?", []any{a.AccountID}
	case model.RoleSubdistributor:
		return "l.subdistributor_id = ?", []any{a.AccountID}
	default:
		return "l.account_id = ?", []any{a.AccountID}
	}
}
