package store

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// RecoveryLimits bound "Forgot password?": requests per asking address
// within AddressWindow (past it the asker is told to wait), and links
// mailed per account within AccountWindow (past it no link is made, and
// the answer is the same as ever).
type RecoveryLimits struct {
	PerAddress    int
	AddressWindow time.Duration
	PerAccount    int
	AccountWindow time.Duration
}

// RecoveryThrottled is the error of an address over its limit.
type RecoveryThrottled struct{ RetryAfter time.Duration }

func (e *RecoveryThrottled) Error() string { return "too many password recovery requests" }

// RetryAfterSeconds is the Retry-After header value.
func (e *RecoveryThrottled) RetryAfterSeconds() int { return max(1, int(e.RetryAfter/time.Second)) }

// Unwrap gives the domain error (429 and its message).
func (e *RecoveryThrottled) Unwrap() error {
	return model.Errorf(model.ETOOMANY, "Too many password recovery requests from your address. Try again later.")
}

// RequestPasswordRecovery records a "Forgot password?" request from address
// for login (a user name, or an e-mail address held by exactly one
// account) and, when login names an enabled account with an e-mail address
// that is under its limit, stores link for it (older unused links stop
// working) and returns the account; else it returns nil and no error, so
// that the answer never tells whether an account exists. An address over
// its limit gets *RecoveryThrottled and nothing is stored. It runs before
// any actor exists, like the login; the link's audit entry is the
// account's own.
func (s *Store) RequestPasswordRecovery(ctx context.Context, login, address string, link PasswordLink, lim RecoveryLimits) (*model.Account, error) {
	login = strings.TrimSpace(login)
	var acc *model.Account
	err := s.inTx(ctx, func(tx *Tx) error {
		acc = nil
		now := s.now()
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM password_recovery_requests WHERE address = ? AND at > ?`,
			address, now.Add(-lim.AddressWindow)).Scan(&n); err != nil {
			return err
		}
		if n >= lim.PerAddress {
			var first time.Time
			// The oldest that counts (a column, not min(): SQLite's
			// aggregate loses the time type).
			if err := tx.queryRow(ctx, `SELECT at FROM password_recovery_requests WHERE address = ? AND at > ? ORDER BY at LIMIT 1`,
				address, now.Add(-lim.AddressWindow)).Scan(&first); err != nil {
				return err
			}
			return &RecoveryThrottled{RetryAfter: first.Add(lim.AddressWindow).Sub(now)}
		}
		a, err := scanAccount(tx.queryRow(ctx, `SELECT `+accountCols+` FROM accounts a WHERE lower(a.username) = lower(?)`, login))
		if isNoRows(err) && strings.Contains(login, "@") {
			rows, qerr := tx.query(ctx, `SELECT `+accountCols+` FROM accounts a WHERE lower(a.email) = lower(?) LIMIT 2`, login)
			if qerr != nil {
				return qerr
			}
			var found []*model.Account
			for rows.Next() {
				x, serr := scanAccount(rows)
				if serr != nil {
					rows.Close()
					return serr
				}
				found = append(found, x)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(found) == 1 { // an address two accounts share names neither
				a, err = found[0], nil
			}
		}
		if err != nil && !isNoRows(err) {
			return err
		}
		var accountID any
		if err == nil && !a.Disabled && strings.TrimSpace(a.Email) != "" {
			accountID = a.ID
			if err := tx.queryRow(ctx, `SELECT count(*) FROM password_recovery_requests WHERE account_id = ? AND at > ?`,
				a.ID, now.Add(-lim.AccountWindow)).Scan(&n); err != nil {
				return err
			}
			if n < lim.PerAccount {
				acc = a
			}
		}
		if _, err := tx.exec(ctx, `INSERT INTO password_recovery_requests (address, account_id, at) VALUES (?,?,?)`,
			address, accountID, now); err != nil {
			return err
		}
		if acc == nil {
			return nil
		}
		return s.createPasswordToken(model.WithActor(ctx, model.ActorOf(acc)), tx, acc.ID, link)
	})
	if err != nil {
		return nil, err
	}
	return acc, nil
}

// PruneRecoveryRequests forgets "Forgot password?" requests older than a
// day (the janitor's).
func (s *Store) PruneRecoveryRequests(ctx context.Context) error {
	_, err := s.exec(ctx, `DELETE FROM password_recovery_requests WHERE at < ?`, s.now().Add(-24*time.Hour))
	return err
}
