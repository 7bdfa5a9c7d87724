package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// audit records, inside the caller's transaction, that the actor of ctx did
// action to an object. The entry belongs to the actor's (effective) account,
// so the account and its ancestors can read it; when someone acts on the
// actor's behalf, the real actor is recorded too.
func (s *Store) audit(ctx context.Context, tx *Tx, action, objectType string, objectID any, details map[string]any) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if details == nil {
		details = map[string]any{}
	}
	js, err := json.Marshal(details)
	if err != nil {
		return err
	}
	var realID int64
	var realName string
	if act.Real != nil {
		realID, realName = act.Real.AccountID, act.Real.Username
	}
	var oid string
	switch v := objectID.(type) {
	case int64:
		oid = strconv.FormatInt(v, 10)
	case string:
		oid = v
	}
	_, err = tx.exec(ctx, `INSERT INTO audit_log (at, actor_id, actor, real_actor_id, real_actor, account_id, account,
		distributor_id, subdistributor_id, action, object_type, object_id, details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		s.now(), nullID(act.AccountID), act.Username, nullID(realID), realName, nullID(act.AccountID), act.Username,
		nullID(act.DistributorID), nullID(act.SubdistributorID), action, objectType, oid, string(js))
	return err
}

// Audit records an action that changed nothing in the store itself (a
// login, a logout), in its own transaction.
func (s *Store) Audit(ctx context.Context, action, objectType string, objectID any, details map[string]any) error {
	return s.inTx(ctx, func(tx *Tx) error { return s.audit(ctx, tx, action, objectType, objectID, details) })
}

// ListAudit lists the audit entries of the actor's subtree, newest first.
func (s *Store) ListAudit(ctx context.Context, f model.AuditFilter) (model.List[*model.AuditEntry], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*model.AuditEntry]{}, err
	}
	cond, args := auditScope(act)
	where := []string{cond}
	if act.Role == model.RoleInstaller {
		// An installer's log starts with the installer: where SQLite had
		// handed a deleted installer's id out again (before migration
		// 00018), the earlier holder's entries stay out of the new one's.
		where = append(where, fromCreation)
		args = append(args, "account", strconv.FormatInt(act.AccountID, 10), "account.create")
	}
	if f.Action != "" {
		where = append(where, "l.action = ?")
		args = append(args, f.Action)
	}
	if f.ObjectType != "" {
		where = append(where, "l.object_type = ?")
		args = append(args, f.ObjectType)
	}
	if f.ObjectID != "" {
		where = append(where, "l.object_id = ?")
		args = append(args, f.ObjectID)
	}
	if f.FromAction != "" && f.ObjectType != "" && f.ObjectID != "" {
		where = append(where, fromCreation)
		args = append(args, f.ObjectType, f.ObjectID, f.FromAction)
	}
	return list(ctx, s, "audit_log l", strings.Join(where, " AND "), "l.id DESC", auditCols, args, f.Page, scanAudit)
}

// fromCreation keeps the entries from an object's latest creation entry on
// (all of them when it has none: rows loaded in bulk).
const fromCreation = `l.id >= coalesce((SELECT max(c.id) FROM audit_log c WHERE c.object_type = ? AND c.object_id = ? AND c.action = ?), 0)`

const auditCols = `l.id, l.at, l.actor_id, l.actor, l.real_actor, l.account_id, l.account, l.action, l.object_type, l.object_id, l.details`

func scanAudit(r scanner) (*model.AuditEntry, error) {
	var e model.AuditEntry
	var details string
	if err := r.Scan(&e.ID, &e.At, nid(&e.ActorID), &e.Actor, &e.RealActor, nid(&e.AccountID), &e.Account,
		&e.Action, &e.ObjectType, &e.ObjectID, &details); err != nil {
		return nil, err
	}
	return &e, json.Unmarshal([]byte(details), &e.Details)
}
