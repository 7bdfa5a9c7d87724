package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Sessions, API tokens and login failures serve authentication, which runs
// before an actor exists: these methods are keyed by token hashes and are
// the only ones outside tenancy scoping, except API token management, which
// is scoped to the actor's own account.

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, se *model.Session) error {
	_, err := s.exec(ctx, `INSERT INTO sessions (token_hash, account_id, acting_as_id, csrf_token, user_agent, ip,
		created_at, last_seen_at, expires_at, epoch, acting_epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		se.TokenHash, se.AccountID, nullID(se.ActingAsID), se.CSRFToken, se.UserAgent, se.IP, se.Created, se.LastSeen, se.Expires,
		se.Epoch, se.ActingEpoch)
	return err
}

// SessionByHash returns a session and its account; disabled accounts have
// none, and neither has a session made before a password change of its
// account or of the installer it acts as.
func (s *Store) SessionByHash(ctx context.Context, hash string) (*model.Session, *model.Account, error) {
	row := s.queryRow(ctx, `SELECT se.token_hash, se.account_id, se.acting_as_id, se.csrf_token, se.user_agent, se.ip,
		se.created_at, se.last_seen_at, se.expires_at, se.epoch, se.acting_epoch,
		coalesce((SELECT p.require_2fa_children FROM accounts p WHERE p.id = a.parent_id), false)
			AND NOT EXISTS (SELECT 1 FROM account_totp t WHERE t.account_id = a.id AND t.confirmed_at IS NOT NULL)
			AND NOT EXISTS (SELECT 1 FROM account_passkeys k WHERE k.account_id = a.id), `+accountCols+`
		FROM sessions se JOIN accounts a ON a.id = se.account_id
		WHERE se.token_hash = ? AND a.disabled = false AND se.epoch = a.credential_epoch
		AND (se.acting_as_id IS NULL OR EXISTS (SELECT 1 FROM accounts i WHERE i.id = se.acting_as_id AND i.credential_epoch = se.acting_epoch))`, hash)
	var se model.Session
	var a model.Account
	err := row.Scan(&se.TokenHash, &se.AccountID, nid(&se.ActingAsID), &se.CSRFToken, &se.UserAgent, &se.IP,
		&se.Created, &se.LastSeen, &se.Expires, &se.Epoch, &se.ActingEpoch, &se.MustEnrollTwoFactor,
		&a.ID, &a.Role, &a.Username, &a.Name, &a.Email, &a.Phone, &a.Company, nid(&a.ParentID),
		nid(&a.DistributorID), nid(&a.SubdistributorID), &a.Disabled, &a.Business, &a.TimeZone, &a.Language,
		&a.ChargeMode, &a.ConnectType, &a.RTPConfusion, &a.AccessWithoutPassword,
		&a.PaymentEnabled, &a.PayByDistributor, &a.Created, &a.Updated, &a.CredentialEpoch)
	if isNoRows(err) {
		return nil, nil, model.NotFound("session")
	}
	return &se, &a, err
}

// TouchSession moves the idle expiry of a session forward.
func (s *Store) TouchSession(ctx context.Context, hash string, at time.Time) error {
	_, err := s.exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?`, at, hash)
	return err
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	_, err := s.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, hash)
	return err
}

// EndSessions ends the sessions whose tokens hash to hashes (a logout: the
// session, and the account's own one when it was acting as an installer; or
// leaving an installer's portal: the acting one) and records that accountID,
// the account really signed in, logged out — in one transaction.
func (s *Store) EndSessions(ctx context.Context, accountID int64, hashes ...string) error {
	return s.inTx(ctx, func(tx *Tx) error {
		for _, h := range hashes {
			if _, err := tx.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, h); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, "auth.logout", "account", accountID, nil)
	})
}

// DeleteStaleSessions removes sessions past their absolute expiry or idle
// since before idleCutoff.
func (s *Store) DeleteStaleSessions(ctx context.Context, now, idleCutoff time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE expires_at < ? OR last_seen_at < ?`, now, idleCutoff)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Login failures are kept by user key (a hash of the lower-case user name,
// whatever its length) and address (bounded): nothing an attacker sends is
// stored as it came.

// loginUserKey is the stored form of a user name: 32 hex digits.
func loginUserKey(username string) string {
	h := sha256.Sum256([]byte(strings.ToLower(username)))
	return hex.EncodeToString(h[:16])
}

// maxAddrKey bounds the stored address; the auth layer passes an IP or an
// IPv6 /64, far shorter.
const maxAddrKey = 64

func addrKey(addr string) string {
	if len(addr) > maxAddrKey {
		return addr[:maxAddrKey]
	}
	return addr
}

// RecordLoginFailure notes a login attempt for throttling; it stays as a
// failure unless the login succeeds. It returns the row's id.
func (s *Store) RecordLoginFailure(ctx context.Context, username, addr string, at time.Time) (int64, error) {
	var id int64
	err := s.queryRow(ctx, `INSERT INTO login_failures (user_key, ip, at) VALUES (?,?,?) RETURNING id`,
		loginUserKey(username), addrKey(addr), at).Scan(&id)
	return id, err
}

// DeleteLoginFailure forgets one recorded attempt.
func (s *Store) DeleteLoginFailure(ctx context.Context, id int64) error {
	_, err := s.exec(ctx, `DELETE FROM login_failures WHERE id = ?`, id)
	return err
}

// LoginFailureCounts are the failures since a time of one (user name,
// address) pair and of the address, each with its oldest counted failure.
type LoginFailureCounts struct {
	Pair, Addr             int
	PairOldest, AddrOldest time.Time
}

// LoginFailures counts the failures since a time for a (user name, address)
// pair and for the address alone. Each count and its oldest row come from one
// statement: a good login clearing the pair between a count and a separate
// read of the oldest row left that read with no row (a 500).
func (s *Store) LoginFailures(ctx context.Context, username, addr string, since time.Time) (LoginFailureCounts, error) {
	var c LoginFailureCounts
	count := func(where string, args ...any) (int, time.Time, error) {
		var n int
		var t time.Time
		args = append(args, since)
		// count(*) OVER () counts every matching row before LIMIT keeps the oldest.
		err := s.queryRow(ctx, `SELECT count(*) OVER (), at FROM login_failures WHERE `+where+` AND at >= ? ORDER BY at LIMIT 1`, args...).Scan(&n, &t)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, time.Time{}, nil
		}
		return n, t, err
	}
	var err error
	if c.Pair, c.PairOldest, err = count(`ip = ? AND user_key = ?`, addrKey(addr), loginUserKey(username)); err != nil {
		return c, err
	}
	c.Addr, c.AddrOldest, err = count(`ip = ?`, addrKey(addr))
	return c, err
}

// ClearLoginFailures forgets the failures of one (user name, address) pair
// after a good login: the address's other names keep theirs.
func (s *Store) ClearLoginFailures(ctx context.Context, username, addr string) error {
	_, err := s.exec(ctx, `DELETE FROM login_failures WHERE ip = ? AND user_key = ?`, addrKey(addr), loginUserKey(username))
	return err
}

// PruneLoginFailures drops the failures older than before, which no longer
// count: with the per-address budget this keeps the table bounded.
func (s *Store) PruneLoginFailures(ctx context.Context, before time.Time) error {
	_, err := s.exec(ctx, `DELETE FROM login_failures WHERE at < ?`, before)
	return err
}

// CreateAPIToken stores a token for the actor's own account.
func (s *Store) CreateAPIToken(ctx context.Context, t *model.APIToken, hash string) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if act.AccountID == 0 {
		return model.Errorf(model.EFORBIDDEN, "API tokens belong to accounts.")
	}
	if act.Real != nil {
		// A token would outlive the access the installer granted.
		return model.Errorf(model.EFORBIDDEN, "API tokens cannot be made while working in another account.")
	}
	t.Name = strings.TrimSpace(t.Name)
	if t.Name == "" || len(t.Name) > 64 {
		return model.Invalid("name", "is required, at most 64 characters")
	}
	return s.inTx(ctx, func(tx *Tx) error {
		t.AccountID, t.Created = act.AccountID, s.now()
		// The epoch the actor authenticated with: a token made by a request
		// racing a password change is refused like the session that made it.
		if err := tx.queryRow(ctx, `INSERT INTO api_tokens (account_id, name, token_hash, created_at, expires_at, epoch)
			VALUES (?,?,?,?,?,?) RETURNING id`, t.AccountID, t.Name, hash, t.Created, t.Expires, act.Epoch).Scan(&t.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "api_token.create", "api_token", t.ID, map[string]any{"name": t.Name})
	})
}

// errActingTokens keeps API tokens, which outlive any session, out of the
// hands of someone working in another account.
var errActingTokens = model.Errorf(model.EFORBIDDEN, "API tokens cannot be seen or changed while working in another account.")

// ListAPITokens lists the actor's own tokens.
func (s *Store) ListAPITokens(ctx context.Context) ([]*model.APIToken, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Real != nil {
		return nil, errActingTokens
	}
	rows, err := s.query(ctx, `SELECT id, account_id, name, created_at, last_used_at, expires_at FROM api_tokens
		WHERE account_id = ? ORDER BY id`, act.AccountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*model.APIToken{}
	for rows.Next() {
		var t model.APIToken
		if err := rows.Scan(&t.ID, &t.AccountID, &t.Name, &t.Created, &t.LastUsed, &t.Expires); err != nil {
			return nil, err
		}
		out = append(out, &t)
	}
	return out, rows.Err()
}

// DeleteAPIToken revokes one of the actor's own tokens.
func (s *Store) DeleteAPIToken(ctx context.Context, id int64) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if act.Real != nil {
		return errActingTokens
	}
	return s.inTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `DELETE FROM api_tokens WHERE id = ? AND account_id = ?`, id, act.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return model.NotFound("API token")
		}
		return s.audit(ctx, tx, "api_token.delete", "api_token", id, nil)
	})
}

// AccountByAPIToken returns the account of a valid, unexpired token made
// since the account's password last changed, and records its use.
func (s *Store) AccountByAPIToken(ctx context.Context, hash string, now time.Time) (*model.Account, error) {
	row := s.queryRow(ctx, `SELECT `+accountCols+` FROM api_tokens t JOIN accounts a ON a.id = t.account_id
		WHERE t.token_hash = ? AND a.disabled = false AND t.epoch = a.credential_epoch
		AND (t.expires_at IS NULL OR t.expires_at > ?)`, hash, now)
	a, err := scanAccount(row)
	if isNoRows(err) {
		return nil, model.NotFound("token")
	} else if err != nil {
		return nil, err
	}
	_, err = s.exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?`, now, hash)
	if IsDiskFull(err) {
		err = nil // a full disk refuses changes, not reads: last use is a hint
	}
	return a, err
}
