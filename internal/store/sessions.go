package store

import (
	"context"
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
		created_at, last_seen_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)`,
		se.TokenHash, se.AccountID, nullID(se.ActingAsID), se.CSRFToken, se.UserAgent, se.IP, se.Created, se.LastSeen, se.Expires)
	return err
}

// SessionByHash returns a session and its account; disabled accounts have none.
func (s *Store) SessionByHash(ctx context.Context, hash string) (*model.Session, *model.Account, error) {
	row := s.queryRow(ctx, `SELECT se.token_hash, se.account_id, se.acting_as_id, se.csrf_token, se.user_agent, se.ip,
		se.created_at, se.last_seen_at, se.expires_at, `+accountCols+`
		FROM sessions se JOIN accounts a ON a.id = se.account_id WHERE se.token_hash = ? AND a.disabled = false`, hash)
	var se model.Session
	var a model.Account
	err := row.Scan(&se.TokenHash, &se.AccountID, nid(&se.ActingAsID), &se.CSRFToken, &se.UserAgent, &se.IP,
		&se.Created, &se.LastSeen, &se.Expires,
		&a.ID, &a.Role, &a.Username, &a.Name, &a.Email, &a.Phone, &a.Company, nid(&a.ParentID),
		nid(&a.DistributorID), nid(&a.SubdistributorID), &a.Disabled, &a.Business, &a.TimeZone, &a.Language,
		&a.ChargeMode, &a.ConnectType, &a.RTPConfusion, &a.AccessWithoutPassword,
		&a.PaymentEnabled, &a.PayByDistributor, &a.Created, &a.Updated)
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

// DeleteStaleSessions removes sessions past their absolute expiry or idle
// since before idleCutoff.
func (s *Store) DeleteStaleSessions(ctx context.Context, now, idleCutoff time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE expires_at < ? OR last_seen_at < ?`, now, idleCutoff)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// RecordLoginFailure notes a login attempt for throttling; it stays as a
// failure unless the login succeeds. It returns the row's id.
func (s *Store) RecordLoginFailure(ctx context.Context, username, ip string, at time.Time) (int64, error) {
	var id int64
	err := s.queryRow(ctx, `INSERT INTO login_failures (username, ip, at) VALUES (?,?,?) RETURNING id`, strings.ToLower(username), ip, at).Scan(&id)
	return id, err
}

// DeleteLoginFailure forgets one recorded attempt.
func (s *Store) DeleteLoginFailure(ctx context.Context, id int64) error {
	_, err := s.exec(ctx, `DELETE FROM login_failures WHERE id = ?`, id)
	return err
}

// LoginFailures counts the failures since a time for a user name and for an
// address, and returns the oldest counted failure of the busier of the two.
func (s *Store) LoginFailures(ctx context.Context, username, ip string, since time.Time) (byUser, byIP int, oldest time.Time, err error) {
	count := func(col, val string) (int, time.Time, error) {
		var n int
		if err := s.queryRow(ctx, `SELECT count(*) FROM login_failures WHERE `+col+` = ? AND at >= ?`, val, since).Scan(&n); err != nil || n == 0 {
			return n, time.Time{}, err
		}
		var t time.Time
		err := s.queryRow(ctx, `SELECT at FROM login_failures WHERE `+col+` = ? AND at >= ? ORDER BY at LIMIT 1`, val, since).Scan(&t)
		return n, t, err
	}
	var tu, ti time.Time
	if byUser, tu, err = count("username", strings.ToLower(username)); err != nil {
		return
	}
	if byIP, ti, err = count("ip", ip); err != nil {
		return
	}
	oldest = tu
	if byIP > byUser {
		oldest = ti
	}
	return
}

// ClearLoginFailures forgets a user name's failures after a good login, and
// drops every failure older than before.
func (s *Store) ClearLoginFailures(ctx context.Context, username string, before time.Time) error {
	_, err := s.exec(ctx, `DELETE FROM login_failures WHERE username = ? OR at < ?`, strings.ToLower(username), before)
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
		if err := tx.queryRow(ctx, `INSERT INTO api_tokens (account_id, name, token_hash, created_at, expires_at)
			VALUES (?,?,?,?,?) RETURNING id`, t.AccountID, t.Name, hash, t.Created, t.Expires).Scan(&t.ID); err != nil {
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

// AccountByAPIToken returns the account of a valid, unexpired token and
// records its use.
func (s *Store) AccountByAPIToken(ctx context.Context, hash string, now time.Time) (*model.Account, error) {
	row := s.queryRow(ctx, `SELECT `+accountCols+` FROM api_tokens t JOIN accounts a ON a.id = t.account_id
		WHERE t.token_hash = ? AND a.disabled = false AND (t.expires_at IS NULL OR t.expires_at > ?)`, hash, now)
	a, err := scanAccount(row)
	if isNoRows(err) {
		return nil, model.NotFound("token")
	} else if err != nil {
		return nil, err
	}
	_, err = s.exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?`, now, hash)
	return a, err
}
