package store

import (
	"context"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// An installer's payment_enabled is its sub-distributor's switch: the
// feature is the sub-distributor's, and the installer's portal follows it.
const accountCols = `a.id, a.role, a.username, a.name, a.email, a.phone, a.company, a.parent_id,
	a.distributor_id, a.subdistributor_id, a.disabled, a.business, a.time_zone, a.language,
	a.charge_mode, a.connect_type, a.rtp_confusion, a.access_without_password,
	CASE WHEN a.role = 'installer' THEN coalesce((SELECT ps.payment_enabled FROM accounts ps WHERE ps.id = a.subdistributor_id), false)
	ELSE a.payment_enabled END, a.pay_by_distributor, a.created_at, a.updated_at, a.credential_epoch`

type scanner interface{ Scan(dest ...any) error }

func scanAccount(r scanner) (*model.Account, error) {
	var a model.Account
	err := r.Scan(&a.ID, &a.Role, &a.Username, &a.Name, &a.Email, &a.Phone, &a.Company, nid(&a.ParentID),
		nid(&a.DistributorID), nid(&a.SubdistributorID), &a.Disabled, &a.Business, &a.TimeZone, &a.Language,
		&a.ChargeMode, &a.ConnectType, &a.RTPConfusion, &a.AccessWithoutPassword,
		&a.PaymentEnabled, &a.PayByDistributor, &a.Created, &a.Updated, &a.CredentialEpoch)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// CreateAccount adds an account under a.ParentID, which must be in the
// actor's subtree and of a role allowed to hold a.Role. Only the system actor
// (the command line) creates admins.
func (s *Store) CreateAccount(ctx context.Context, a *model.Account, passwordHash string) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	a.Normalize()
	if err := a.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error { return s.createAccount(ctx, tx, act, a, passwordHash) })
}

// createAccount is CreateAccount's write, in tx; a is normalized and valid.
func (s *Store) createAccount(ctx context.Context, tx *Tx, act *model.Actor, a *model.Account, passwordHash string) error {
	if a.Role == model.RoleAdmin {
		if act != model.System {
			return model.Errorf(model.EFORBIDDEN, "Only the command line creates admin accounts.")
		}
		a.ParentID = 0
	} else {
		parent, err := s.getAccount(ctx, tx.tx, act, a.ParentID)
		if err != nil {
			return model.Invalid("parent_id", "no such account")
		}
		if !slices.Contains(a.Role.ParentRoles(), parent.Role) {
			return model.Invalid("parent_id", "a %s cannot be created under a %s", a.Role.Label(), parent.Role.Label())
		}
		if act.Role != model.RoleAdmin && rank(act.Role) >= rank(a.Role) {
			return model.Errorf(model.EFORBIDDEN, "A %s cannot create a %s.", act.Role.Label(), a.Role.Label())
		}
		a.DistributorID, a.SubdistributorID = parent.DistributorID, parent.SubdistributorID
	}
	now := s.now()
	a.Created, a.Updated = now, now
	err := tx.queryRow(ctx, `INSERT INTO accounts (role, username, password_hash, name, email, phone, company,
		parent_id, distributor_id, subdistributor_id, business, time_zone, language, charge_mode, connect_type,
		rtp_confusion, access_without_password, payment_enabled, pay_by_distributor, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
		a.Role, a.Username, passwordHash, a.Name, a.Email, a.Phone, a.Company,
		nullID(a.ParentID), nullID(a.DistributorID), nullID(a.SubdistributorID), a.Business, a.TimeZone, a.Language,
		a.ChargeMode, a.ConnectType, a.RTPConfusion, a.AccessWithoutPassword, a.PaymentEnabled, a.PayByDistributor,
		now, now).Scan(&a.ID)
	if isUniqueViolation(err) {
		return model.Errorf(model.ECONFLICT, "The account name %q is taken.", a.Username).
			WithField("username", "is taken")
	} else if err != nil {
		return err
	}
	// An account is its own distributor / sub-distributor at that level.
	switch a.Role {
	case model.RoleDistributor:
		a.DistributorID = a.ID
		_, err = tx.exec(ctx, `UPDATE accounts SET distributor_id = id WHERE id = ?`, a.ID)
	case model.RoleSubdistributor:
		a.SubdistributorID = a.ID
		_, err = tx.exec(ctx, `UPDATE accounts SET subdistributor_id = id WHERE id = ?`, a.ID)
	}
	if err != nil {
		return err
	}
	return s.audit(ctx, tx, "account.create", "account", a.ID, map[string]any{"username": a.Username, "role": a.Role})
}

func rank(r model.Role) int { return slices.Index(model.Roles, r) }

// GetAccount returns an account of the actor's subtree.
func (s *Store) GetAccount(ctx context.Context, id int64) (*model.Account, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getAccount(ctx, s.db, act, id)
}

func (s *Store) getAccount(ctx context.Context, q querier, act *model.Actor, id int64) (*model.Account, error) {
	return s.readAccount(ctx, q, act, id, "")
}

// readAccount reads an account of the actor's subtree; lock is appended to
// the query (s.lockFor(" FOR UPDATE") to hold the row until the commit).
func (s *Store) readAccount(ctx context.Context, q querier, act *model.Actor, id int64, lock string) (*model.Account, error) {
	cond, args := accountScope(act, "a")
	a, err := scanAccount(q.QueryRowContext(ctx, s.q(`SELECT `+accountCols+` FROM accounts a WHERE a.id = ? AND `+cond+lock), append([]any{id}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("account")
	}
	return a, err
}

// ListAccounts lists accounts of the actor's subtree.
func (s *Store) ListAccounts(ctx context.Context, f model.AccountFilter) (model.List[*model.Account], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*model.Account]{}, err
	}
	cond, args := accountScope(act, "a")
	where := []string{cond}
	if f.Role != "" {
		where = append(where, "a.role = ?")
		args = append(args, f.Role)
	}
	if f.ParentID != 0 {
		where = append(where, "a.parent_id = ?")
		args = append(args, f.ParentID)
	}
	if f.Search != "" {
		where = append(where, `(lower(a.username) LIKE ? ESCAPE '\' OR lower(a.name) LIKE ? ESCAPE '\' OR lower(a.email) LIKE ? ESCAPE '\')`)
		p := likeContains(f.Search)
		args = append(args, p, p, p)
	}
	return list(ctx, s, "accounts a", strings.Join(where, " AND "), "a.created_at DESC, a.id DESC", accountCols, args, f.Page, scanAccount)
}

// SetSubdistributorSwitches sets the payment feature and "Pay by
// Distributor" of a sub-distributor; only its distributor (or the admin) may.
// A nil switch keeps its value, read in the same transaction, so two
// requests switching one each at once both land.
func (s *Store) SetSubdistributorSwitches(ctx context.Context, id int64, paymentEnabledOrNil, payByDistributorOrNil *bool) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		a, err := s.readAccount(ctx, tx.tx, act, id, s.lockFor(" FOR UPDATE"))
		if err != nil {
			return err
		}
		if a.Role != model.RoleSubdistributor {
			return model.NotFound("sub-distributor")
		}
		if act.Role != model.RoleAdmin && act.Role != model.RoleDistributor {
			return model.Errorf(model.EFORBIDDEN, "Only the distributor switches the payment feature.")
		}
		paymentEnabled, payByDistributor := a.PaymentEnabled, a.PayByDistributor
		if paymentEnabledOrNil != nil {
			paymentEnabled = *paymentEnabledOrNil
		}
		if payByDistributorOrNil != nil {
			payByDistributor = *payByDistributorOrNil
		}
		if _, err := tx.exec(ctx, `UPDATE accounts SET payment_enabled = ?, pay_by_distributor = ?, updated_at = ? WHERE id = ?`,
			paymentEnabled, payByDistributor, s.now(), id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "subdistributor.switches", "account", id, map[string]any{
			"payment_enabled": paymentEnabled, "pay_by_distributor": payByDistributor,
			"was_payment_enabled": a.PaymentEnabled, "was_pay_by_distributor": a.PayByDistributor})
	})
}

// SetPassword replaces the password hash of an account of the actor's
// subtree (the actor's own included) and ends every session and API token
// of the account and every session acting in it.
func (s *Store) SetPassword(ctx context.Context, id int64, hash string) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if _, err := s.getAccount(ctx, tx.tx, act, id); err != nil {
			return err
		}
		if err := s.setPasswordHash(ctx, tx, id, hash); err != nil {
			return err
		}
		return s.audit(ctx, tx, "account.password", "account", id, nil)
	})
}

// ChangeOwnPassword sets the actor's own password (the caller has checked
// the current one), ends every session and API token of the account like
// SetPassword, and stores se as the one session that goes on, so the person
// changing it stays signed in. Not while working in another account.
func (s *Store) ChangeOwnPassword(ctx context.Context, hash string, se *model.Session) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if act.AccountID == 0 || act.Real != nil {
		return model.Errorf(model.EFORBIDDEN, "Only the account itself changes its password, not while working in another account.")
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if err := s.setPasswordHash(ctx, tx, act.AccountID, hash); err != nil {
			return err
		}
		se.AccountID, se.ActingAsID = act.AccountID, 0
		if err := tx.queryRow(ctx, `SELECT credential_epoch FROM accounts WHERE id = ?`, act.AccountID).Scan(&se.Epoch); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO sessions (token_hash, account_id, csrf_token, user_agent, ip,
			created_at, last_seen_at, expires_at, epoch, acting_epoch) VALUES (?,?,?,?,?,?,?,?,?,0)`,
			se.TokenHash, se.AccountID, se.CSRFToken, se.UserAgent, se.IP, se.Created, se.LastSeen, se.Expires, se.Epoch); err != nil {
			return err
		}
		return s.audit(ctx, tx, "account.password_change", "account", act.AccountID, nil)
	})
}

// setPasswordHash is the one statement that writes a password: every path
// (command line, mailed link, own change) goes through it, so none can
// forget to end the credentials made under the old one.
func (s *Store) setPasswordHash(ctx context.Context, tx *Tx, id int64, hash string) error {
	if _, err := tx.exec(ctx, `UPDATE accounts SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, s.now(), id); err != nil {
		return err
	}
	return s.endCredentials(ctx, tx, id)
}

// endCredentials ends every way into an account: its pending password
// links, its sessions (its own
// "access without password" sessions into installers among them), its API
// tokens, the sessions of others acting in it, and the Remote Control
// sessions it opened, itself or acting as an installer (on a separate
// Remote Control origin a claimed one needs no portal session). Moving the epoch on also
// refuses a session or token that a request racing this transaction makes
// from the old credentials (authentication compares epochs).
func (s *Store) endCredentials(ctx context.Context, tx *Tx, id int64) error {
	// Pending welcome and reset links are ways in too: whoever read the
	// old mail must not set a password after this one.
	if _, err := tx.exec(ctx, `UPDATE password_tokens SET used_at = ? WHERE account_id = ? AND used_at IS NULL`, s.now(), id); err != nil {
		return err
	}
	for _, q := range []string{
		`UPDATE accounts SET credential_epoch = credential_epoch + 1 WHERE id = ?`,
		`DELETE FROM sessions WHERE account_id = ? OR acting_as_id = ?`,
		`DELETE FROM api_tokens WHERE account_id = ?`,
		`DELETE FROM remote_sessions WHERE account_id = ? OR acting_by = ?`,
	} {
		args := []any{id}
		if strings.Count(q, "?") == 2 {
			args = append(args, id)
		}
		if _, err := tx.exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// AccountForLogin returns the account and password hash for a user name.
// It is the one unscoped account read: it serves the login, before any actor
// exists.
func (s *Store) AccountForLogin(ctx context.Context, username string) (*model.Account, string, error) {
	row := s.queryRow(ctx, `SELECT `+accountCols+`, a.password_hash FROM accounts a WHERE lower(a.username) = lower(?)`, username)
	var a model.Account
	var hash string
	err := row.Scan(&a.ID, &a.Role, &a.Username, &a.Name, &a.Email, &a.Phone, &a.Company, nid(&a.ParentID),
		nid(&a.DistributorID), nid(&a.SubdistributorID), &a.Disabled, &a.Business, &a.TimeZone, &a.Language,
		&a.ChargeMode, &a.ConnectType, &a.RTPConfusion, &a.AccessWithoutPassword,
		&a.PaymentEnabled, &a.PayByDistributor, &a.Created, &a.Updated, &a.CredentialEpoch, &hash)
	if isNoRows(err) {
		return nil, "", model.NotFound("account")
	}
	return &a, hash, err
}

// CountAccounts counts every account: the demo refuses a non-empty database.
func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n)
	return n, err
}
