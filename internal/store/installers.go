package store

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Installers are accounts; these methods add the User module's rules:
// profile edits, deletion with its impact, single-use password links,
// access without password and sessions acting as the installer.

// getInstaller returns an installer of the actor's subtree.
func (s *Store) getInstaller(ctx context.Context, q querier, act *model.Actor, id int64) (*model.Account, error) {
	return s.readInstaller(ctx, q, act, id, "")
}

// readInstaller is getInstaller with lock appended to the query
// (s.lockFor(" FOR UPDATE") to hold the row until the commit).
func (s *Store) readInstaller(ctx context.Context, q querier, act *model.Actor, id int64, lock string) (*model.Account, error) {
	a, err := s.readAccount(ctx, q, act, id, lock)
	if failed(err) {
		return nil, err
	}
	if err != nil || a.Role != model.RoleInstaller {
		return nil, model.NotFound("installer")
	}
	return a, nil
}

// GetInstaller returns an installer of the actor's subtree.
func (s *Store) GetInstaller(ctx context.Context, id int64) (*model.Account, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getInstaller(ctx, s.db, act, id)
}

// CreateInstaller adds an installer under a.ParentID (a sub-distributor or
// distributor of the actor's subtree), without a password: the installer
// sets it through the link of its welcome mail. When the distributor pays
// ("Pay by Distributor"), the charge mode is fixed to the distributor.
func (s *Store) CreateInstaller(ctx context.Context, a *model.Account) error {
	return s.CreateInstallerWithLink(ctx, a, nil)
}

// PasswordLink is a single-use link to set a password as it is stored: the
// hash of its token, what it is for (welcome or reset) and its expiry.
type PasswordLink struct {
	Hash    string
	Purpose string
	Expires time.Time
}

// CreateInstallerWithLink is CreateInstaller that also stores link (when
// not nil) for the new installer, in the same transaction: an installer is
// never left without the link its welcome mail carries.
func (s *Store) CreateInstallerWithLink(ctx context.Context, a *model.Account, link *PasswordLink) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if link != nil && link.Purpose != "welcome" && link.Purpose != "reset" {
		return model.Invalid("purpose", "must be welcome or reset")
	}
	a.Role = model.RoleInstaller
	return s.inTx(ctx, func(tx *Tx) error {
		if a.ParentID != 0 {
			if parent, err := s.getAccount(ctx, tx.tx, act, a.ParentID); err == nil && parent.PayByDistributor {
				a.ChargeMode = model.ChargeDistributor
			}
		}
		a.Normalize()
		if err := a.Validate(); err != nil {
			return err
		}
		if err := s.createAccount(ctx, tx, act, a, ""); err != nil || link == nil {
			return err
		}
		return s.createPasswordToken(ctx, tx, a.ID, *link)
	})
}

// ListInstallers searches the installers of the actor's subtree by Account
// and Email (case-insensitive, contains).
func (s *Store) ListInstallers(ctx context.Context, f model.InstallerFilter) (model.List[*model.Account], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*model.Account]{}, err
	}
	cond, args := accountScope(act, "a")
	where := []string{cond, "a.role = 'installer'"}
	if v := strings.TrimSpace(f.Account); v != "" {
		where = append(where, `lower(a.username) LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(v))
	}
	if v := strings.TrimSpace(f.Email); v != "" {
		where = append(where, `lower(a.email) LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(v))
	}
	return list(ctx, s, "accounts a", strings.Join(where, " AND "), "a.created_at DESC, a.id DESC", accountCols, args, f.Page, scanAccount)
}

// UpdateInstaller edits an installer's profile; the login name stays.
func (s *Store) UpdateInstaller(ctx context.Context, id int64, p model.InstallerPatch) (*model.Account, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var out *model.Account
	err = s.inTx(ctx, func(tx *Tx) error {
		// Locked: the patch is merged into the row as it is now, so two
		// edits of different fields at once both land.
		a, err := s.readInstaller(ctx, tx.tx, act, id, s.lockFor(" FOR UPDATE"))
		if err != nil {
			return err
		}
		before := *a
		p.Apply(a)
		if parent, err := s.getAccount(ctx, tx.tx, model.System, a.ParentID); err == nil && parent.PayByDistributor {
			a.ChargeMode = model.ChargeDistributor
		} else if p.ChargeMode != nil && *p.ChargeMode == model.ChargeDistributor {
			return model.Invalid("charge_mode", "must be installer or enduser")
		}
		if err := a.Validate(); err != nil {
			return err
		}
		a.Updated = s.now()
		tx.changed(model.AutoPChange{InstallerIDs: []int64{a.ID}})
		if _, err := tx.exec(ctx, `UPDATE accounts SET name = ?, business = ?, company = ?, email = ?, phone = ?, time_zone = ?,
			language = ?, charge_mode = ?, connect_type = ?, rtp_confusion = ?, updated_at = ? WHERE id = ?`,
			a.Name, a.Business, a.Company, a.Email, a.Phone, a.TimeZone, a.Language, a.ChargeMode, a.ConnectType,
			a.RTPConfusion, a.Updated, a.ID); err != nil {
			return err
		}
		out = a
		return s.audit(ctx, tx, "installer.update", "account", a.ID, installerChanges(before, *a))
	})
	return out, err
}

// installerChanges lists the profile fields that differ, as field → [old, new].
func installerChanges(a, b model.Account) map[string]any {
	out := map[string]any{}
	add := func(k string, x, y any) {
		if x != y {
			out[k] = []any{x, y}
		}
	}
	add("name", a.Name, b.Name)
	add("business", a.Business, b.Business)
	add("company", a.Company, b.Company)
	add("email", a.Email, b.Email)
	add("phone", a.Phone, b.Phone)
	add("time_zone", a.TimeZone, b.TimeZone)
	add("language", a.Language, b.Language)
	add("charge_mode", a.ChargeMode, b.ChargeMode)
	add("connect_type", a.ConnectType, b.ConnectType)
	add("rtp_confusion", a.RTPConfusion, b.RTPConfusion)
	return out
}

// InstallerDeletionImpact counts what deleting an installer would remove.
func (s *Store) InstallerDeletionImpact(ctx context.Context, id int64) (model.DeletionImpact, error) {
	act, err := actor(ctx)
	if err != nil {
		return model.DeletionImpact{}, err
	}
	if _, err := s.getInstaller(ctx, s.db, act, id); err != nil {
		return model.DeletionImpact{}, err
	}
	return s.impact(ctx, s.db, id)
}

func (s *Store) impact(ctx context.Context, q querier, id int64) (model.DeletionImpact, error) {
	var d model.DeletionImpact
	for _, c := range []struct {
		n     *int
		table string
	}{{&d.Projects, "projects"}, {&d.Devices, "devices"}, {&d.EndUsers, "end_users"}, {&d.Cameras, "third_party_devices"}, {&d.LibraryMACs, "installer_macs"}, {&d.Orders, "orders"}} {
		if err := q.QueryRowContext(ctx, s.q(`SELECT count(*) FROM `+c.table+` WHERE installer_id = ?`), id).Scan(c.n); err != nil {
			return d, err
		}
	}
	return d, nil
}

// DeleteInstaller removes an installer and, when confirmed, everything it
// owns, in one transaction. Without confirm, an installer that still owns
// something is refused with ECONFLICT and the impact is returned.
func (s *Store) DeleteInstaller(ctx context.Context, id int64, confirm bool) (model.DeletionImpact, error) {
	act, err := actor(ctx)
	if err != nil {
		return model.DeletionImpact{}, err
	}
	var d model.DeletionImpact
	err = s.inTx(ctx, func(tx *Tx) error {
		a, err := s.getInstaller(ctx, tx.tx, act, id)
		if err != nil {
			return err
		}
		// On PostgreSQL an order share-locks its installer while it is
		// written: locking the installer here waits for orders in flight,
		// so that the count below sees them, and holds off new ones. (NO
		// KEY: rows that only refer to the installer are not held off.)
		if _, err := tx.exec(ctx, `SELECT id FROM accounts WHERE id = ?`+s.lockFor(" FOR NO KEY UPDATE"), id); err != nil {
			return err
		}
		if d, err = s.impact(ctx, tx.tx, id); err != nil {
			return err
		}
		if d.Orders > 0 {
			return model.Errorf(model.ECONFLICT, "The installer has %d orders in Payments, kept for accounting: an installer with orders cannot be deleted.", d.Orders).
				WithField("orders", "an installer with orders cannot be deleted")
		}
		if !d.Empty() && !confirm {
			return model.Errorf(model.ECONFLICT, "The installer still owns projects, users or devices: confirm to delete them too.").
				WithField("confirm", "is required to delete what the installer owns")
		}
		if d.DeviceMACs, err = s.deviceMACsOf(ctx, tx, "installer_id", id); err != nil {
			return err
		}
		// Sessions and tokens would go with the account (ON DELETE CASCADE);
		// ending them here does not depend on the database enforcing that.
		if err := s.endCredentials(ctx, tx, id); err != nil {
			return err
		}
		tx.changed(model.AutoPChange{InstallerIDs: []int64{id}, MACs: d.DeviceMACs})
		// Children before parents; apartments, buildings and departments go
		// with their projects (ON DELETE CASCADE).
		for _, q := range []string{
			`DELETE FROM rollouts WHERE account_id = ?`, // and their upgrades
			`DELETE FROM third_party_devices WHERE installer_id = ?`,
			`DELETE FROM devices WHERE installer_id = ?`,
			`DELETE FROM end_users WHERE installer_id = ? AND family_master_id IS NOT NULL`,
			`DELETE FROM end_users WHERE installer_id = ?`,
			`DELETE FROM projects WHERE installer_id = ?`,
			`DELETE FROM accounts WHERE id = ?`,
		} {
			if _, err := tx.exec(ctx, q, id); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, "installer.delete", "account", id, map[string]any{"username": a.Username,
			"projects": d.Projects, "devices": d.Devices, "end_users": d.EndUsers, "third_party_devices": d.Cameras, "library_macs": d.LibraryMACs})
	})
	return d, err
}

// CreatePasswordToken stores a single-use link for an account of the
// actor's subtree (welcome or reset); older unused links of the account stop
// working.
func (s *Store) CreatePasswordToken(ctx context.Context, accountID int64, purpose, hash string, expires time.Time) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if purpose != "welcome" && purpose != "reset" {
		return model.Invalid("purpose", "must be welcome or reset")
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if _, err := s.getAccount(ctx, tx.tx, act, accountID); err != nil {
			return err
		}
		return s.createPasswordToken(ctx, tx, accountID, PasswordLink{Hash: hash, Purpose: purpose, Expires: expires})
	})
}

// createPasswordToken stores link for accountID in tx; older unused links of
// the account stop working.
func (s *Store) createPasswordToken(ctx context.Context, tx *Tx, accountID int64, link PasswordLink) error {
	now := s.now()
	if _, err := tx.exec(ctx, `UPDATE password_tokens SET used_at = ? WHERE account_id = ? AND used_at IS NULL`, now, accountID); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `INSERT INTO password_tokens (token_hash, account_id, purpose, created_at, expires_at) VALUES (?,?,?,?,?)`,
		link.Hash, accountID, link.Purpose, now, link.Expires); err != nil {
		return err
	}
	return s.audit(ctx, tx, "password_link."+link.Purpose, "account", accountID, map[string]any{"expires_at": link.Expires})
}

// PasswordTokenAccount returns the account a valid, unused link is for. The
// link itself is the authority: no actor is needed.
func (s *Store) PasswordTokenAccount(ctx context.Context, hash string) (*model.Account, error) {
	row := s.queryRow(ctx, `SELECT `+accountCols+` FROM password_tokens t JOIN accounts a ON a.id = t.account_id
		WHERE t.token_hash = ? AND t.used_at IS NULL AND t.expires_at > ? AND a.disabled = false`, hash, s.now())
	a, err := scanAccount(row)
	if isNoRows(err) {
		return nil, model.Errorf(model.ENOTFOUND, "This link is invalid, used or expired. Ask for a new one.")
	}
	return a, err
}

// UsePasswordToken sets the password of a valid link's account, uses the
// link up and ends the account's sessions, in one transaction.
func (s *Store) UsePasswordToken(ctx context.Context, hash, passwordHash string) (*model.Account, error) {
	var acc *model.Account
	err := s.inTx(ctx, func(tx *Tx) error {
		now := s.now()
		res, err := tx.exec(ctx, `UPDATE password_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`, now, hash, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return model.Errorf(model.ENOTFOUND, "This link is invalid, used or expired. Ask for a new one.")
		}
		acc, err = scanAccount(tx.queryRow(ctx, `SELECT `+accountCols+` FROM password_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = ?`, hash))
		if err != nil {
			return err
		}
		if err := s.setPasswordHash(ctx, tx, acc.ID, passwordHash); err != nil {
			return err
		}
		return s.audit(model.WithActor(ctx, model.ActorOf(acc)), tx, "account.password_set", "account", acc.ID, nil)
	})
	return acc, err
}

// SetAccessWithoutPassword lets the installer (the actor itself) grant or
// revoke its sub-distributor's access without password. Revoking ends every
// session acting as the installer at once.
func (s *Store) SetAccessWithoutPassword(ctx context.Context, enabled bool) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if act.Role != model.RoleInstaller || act.Real != nil {
		return model.Errorf(model.EFORBIDDEN, "Only the installer itself grants or revokes access without password.")
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE accounts SET access_without_password = ?, updated_at = ? WHERE id = ?`, enabled, s.now(), act.AccountID); err != nil {
			return err
		}
		if !enabled {
			if _, err := tx.exec(ctx, `DELETE FROM sessions WHERE acting_as_id = ?`, act.AccountID); err != nil {
				return err
			}
			// And the Remote Control sessions opened acting as the installer
			// (claimed on the separate origin, they need no portal session).
			if _, err := tx.exec(ctx, `DELETE FROM remote_sessions WHERE account_id = ? AND acting_by IS NOT NULL`, act.AccountID); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, "installer.access_without_password", "account", act.AccountID, map[string]any{"enabled": enabled})
	})
}

// MaxImpersonation bounds a session acting as an installer.
const MaxImpersonation = time.Hour

// CreateImpersonationSession opens a session in which the actor (a
// sub-distributor or distributor above the installer) works as the
// installer; refused while the installer has not granted access.
func (s *Store) CreateImpersonationSession(ctx context.Context, installerID int64, se *model.Session) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		inst, err := s.getInstaller(ctx, tx.tx, act, installerID)
		if err != nil || act.AccountID == installerID {
			return model.NotFound("installer")
		}
		if act.Role != model.RoleSubdistributor && act.Role != model.RoleDistributor {
			return model.Errorf(model.EFORBIDDEN, "Only the installer's sub-distributor or distributor can access its account.")
		}
		if !inst.AccessWithoutPassword {
			return model.Errorf(model.EFORBIDDEN, "%s has not granted access without password.", inst.Username)
		}
		now := s.now()
		se.AccountID, se.ActingAsID, se.Created, se.LastSeen = act.AccountID, installerID, now, now
		// The actor's epoch is the one it authenticated with: a password
		// change of either account since then refuses the session.
		se.Epoch, se.ActingEpoch = act.Epoch, inst.CredentialEpoch
		if se.Expires.IsZero() || se.Expires.After(now.Add(MaxImpersonation)) {
			se.Expires = now.Add(MaxImpersonation)
		}
		if _, err := tx.exec(ctx, `INSERT INTO sessions (token_hash, account_id, acting_as_id, csrf_token, user_agent, ip,
			created_at, last_seen_at, expires_at, epoch, acting_epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			se.TokenHash, se.AccountID, se.ActingAsID, se.CSRFToken, se.UserAgent, se.IP, se.Created, se.LastSeen, se.Expires,
			se.Epoch, se.ActingEpoch); err != nil {
			return err
		}
		return s.audit(ctx, tx, "installer.access_start", "account", installerID, map[string]any{"installer": inst.Username, "expires_at": se.Expires})
	})
}
