package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Two-factor sign-in (issue 16): an account's TOTP authenticator, its
// recovery codes, the logins waiting for their second factor, and a
// parent's requirement of it for its children. The code checks themselves
// are auth's (verify callbacks): the store keeps the secret sealed and
// makes each check and its bookkeeping one transaction.

// TOTPVerify checks a code against a secret and returns the 30-second step
// it matched, which must be after lastStep (a code works once).
type TOTPVerify func(secret string, lastStep int64) (step int64, ok bool)

// ownAccount is the account a person changes their own sign-in for: the
// signed-in account, never one it works as.
func ownAccount(ctx context.Context) (*model.Actor, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Real != nil || act.AccountID == 0 {
		return nil, model.Errorf(model.EFORBIDDEN, "Two-factor sign-in is set by the account's own person, not while working in another account.")
	}
	return act, nil
}

// GetTwoFactorStatus returns the actor's own two-factor sign-in.
func (s *Store) GetTwoFactorStatus(ctx context.Context) (model.TwoFactorStatus, error) {
	var st model.TwoFactorStatus
	act, err := ownAccount(ctx)
	if err != nil {
		return st, err
	}
	err = s.queryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM account_totp t WHERE t.account_id = a.id AND t.confirmed_at IS NOT NULL),
		(SELECT count(*) FROM account_passkeys k WHERE k.account_id = a.id),
		(SELECT count(*) FROM recovery_codes c WHERE c.account_id = a.id AND c.used_at IS NULL),
		coalesce((SELECT p.require_2fa_children FROM accounts p WHERE p.id = a.parent_id), false),
		a.require_2fa_children
		FROM accounts a WHERE a.id = ?`, act.AccountID).Scan(&st.TOTP, &st.Passkeys, &st.RecoveryCodesLeft, &st.RequiredByParent, &st.RequireForChildren)
	st.Enabled = st.TOTP || st.Passkeys > 0
	return st, err
}

// StartTOTP keeps a new, unconfirmed secret for the actor's own account
// (replacing one not confirmed); one confirmed already is a conflict.
func (s *Store) StartTOTP(ctx context.Context, secret string) error {
	act, err := ownAccount(ctx)
	if err != nil {
		return err
	}
	sealed, err := s.encryptSecret(secret)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		var confirmed bool
		err := tx.queryRow(ctx, `SELECT confirmed_at IS NOT NULL FROM account_totp WHERE account_id = ?`, act.AccountID).Scan(&confirmed)
		if err != nil && !isNoRows(err) {
			return err
		}
		if confirmed {
			return model.Errorf(model.ECONFLICT, "Two-factor sign-in is on already: turn it off first to set up another authenticator.")
		}
		if _, err := tx.exec(ctx, `DELETE FROM account_totp WHERE account_id = ?`, act.AccountID); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO account_totp (account_id, secret, created_at) VALUES (?,?,?)`, act.AccountID, sealed, s.now())
		return err
	})
}

// ConfirmTOTP turns two-factor sign-in on for the actor's own account when
// verify accepts the code for the secret StartTOTP kept, and stores the
// recovery codes' hashes (replacing any). A wrong code is 400 "code".
func (s *Store) ConfirmTOTP(ctx context.Context, verify TOTPVerify, codeHashes []string) error {
	act, err := ownAccount(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		var sealed string
		var confirmed bool
		err := tx.queryRow(ctx, `SELECT secret, confirmed_at IS NOT NULL FROM account_totp WHERE account_id = ?`, act.AccountID).Scan(&sealed, &confirmed)
		if isNoRows(err) {
			return model.Errorf(model.ECONFLICT, "Set up two-factor sign-in first: no authenticator is waiting for its first code.")
		} else if err != nil {
			return err
		}
		if confirmed {
			return model.Errorf(model.ECONFLICT, "Two-factor sign-in is on already.")
		}
		secret, err := s.decryptSecret(sealed)
		if err != nil {
			return err
		}
		step, ok := verify(secret, 0)
		if !ok {
			return model.Invalid("code", "is not the code your app shows now: check the app and the device's clock, and type the newest code")
		}
		now := s.now()
		if _, err := tx.exec(ctx, `UPDATE account_totp SET confirmed_at = ?, last_step = ? WHERE account_id = ?`, now, step, act.AccountID); err != nil {
			return err
		}
		if err := s.replaceRecoveryCodes(ctx, tx, act.AccountID, codeHashes); err != nil {
			return err
		}
		return s.audit(ctx, tx, "auth.two_factor_on", "account", act.AccountID, map[string]any{"recovery_codes": len(codeHashes)})
	})
}

func (s *Store) replaceRecoveryCodes(ctx context.Context, tx *Tx, accountID int64, hashes []string) error {
	if _, err := tx.exec(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, accountID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.exec(ctx, `INSERT INTO recovery_codes (account_id, code_hash) VALUES (?,?)`, accountID, h); err != nil {
			return err
		}
	}
	return nil
}

// DisableTOTP turns the actor's own two-factor sign-in off (the caller has
// checked the password and a code). Required by the parent: a conflict.
func (s *Store) DisableTOTP(ctx context.Context) error {
	act, err := ownAccount(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		var required bool
		if err := tx.queryRow(ctx, `SELECT coalesce((SELECT p.require_2fa_children FROM accounts p WHERE p.id = a.parent_id), false)
			FROM accounts a WHERE a.id = ?`, act.AccountID).Scan(&required); err != nil {
			return err
		}
		if required {
			return model.Errorf(model.ECONFLICT, "Your parent account requires two-factor sign-in: it cannot be turned off.")
		}
		return s.dropTwoFactor(ctx, tx, act.AccountID, "auth.two_factor_off", nil)
	})
}

func (s *Store) dropTwoFactor(ctx context.Context, tx *Tx, accountID int64, action string, details map[string]any) error {
	// Its passkeys go too (their number is in the audit entry).
	var passkeys int
	if err := tx.queryRow(ctx, `SELECT count(*) FROM account_passkeys WHERE account_id = ?`, accountID).Scan(&passkeys); err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM account_totp WHERE account_id = ?`, `DELETE FROM recovery_codes WHERE account_id = ?`,
		`DELETE FROM login_challenges WHERE account_id = ?`, `DELETE FROM account_passkeys WHERE account_id = ?`,
		`DELETE FROM passkey_registrations WHERE account_id = ?`} {
		if _, err := tx.exec(ctx, q, accountID); err != nil {
			return err
		}
	}
	if details == nil {
		details = map[string]any{}
	}
	details["passkeys_removed"] = passkeys
	return s.audit(ctx, tx, action, "account", accountID, details)
}

// ResetChildTwoFactor removes the two-factor sign-in of account id, one of
// the actor's subtree below it (a distributor's sub-distributors and
// installers, a sub-distributor's installers; the admin's: any), for a
// person who lost their authenticator and codes. Their next login sets one
// up again if it is required. Anyone else's account, and one's own, is 404.
// Audited.
func (s *Store) ResetChildTwoFactor(ctx context.Context, id int64) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		child, err := s.getAccount(ctx, tx.tx, act, id)
		if err != nil {
			return err
		}
		if child.ID == act.AccountID {
			return model.NotFound("account")
		}
		return s.dropTwoFactor(ctx, tx, child.ID, "auth.two_factor_reset", map[string]any{"username": child.Username})
	})
}

// SetChildrenTwoFactorRequired sets whether the actor's own account
// requires two-factor sign-in of its children (not an installer's: it has
// none). Audited.
func (s *Store) SetChildrenTwoFactorRequired(ctx context.Context, required bool) error {
	act, err := ownAccount(ctx)
	if err != nil {
		return err
	}
	if act.Role == model.RoleInstaller {
		return model.Errorf(model.EFORBIDDEN, "An installer has no accounts below it.")
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE accounts SET require_2fa_children = ?, updated_at = ? WHERE id = ?`, required, s.now(), act.AccountID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "auth.two_factor_policy", "account", act.AccountID, map[string]any{"require_for_children": required})
	})
}

// TwoFactorForLogin says whether account id signs in with a second factor
// (a confirmed authenticator or a passkey). Before any actor exists, like
// the login.
func (s *Store) TwoFactorForLogin(ctx context.Context, id int64) (bool, error) {
	totp, passkeys, err := s.SecondFactorsForLogin(ctx, id)
	return totp || passkeys, err
}

// SecondFactorsForLogin says which second factors account id signs in
// with: a confirmed TOTP authenticator, passkeys. Before any actor exists.
func (s *Store) SecondFactorsForLogin(ctx context.Context, id int64) (totp, passkeys bool, err error) {
	err = s.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM account_totp WHERE account_id = ? AND confirmed_at IS NOT NULL),
		EXISTS (SELECT 1 FROM account_passkeys WHERE account_id = ?)`, id, id).Scan(&totp, &passkeys)
	return totp, passkeys, err
}

// CreateLoginChallenge keeps a login waiting for its second factor, until
// expires. Expired ones are dropped on the way.
func (s *Store) CreateLoginChallenge(ctx context.Context, hash string, accountID int64, expires time.Time) error {
	now := s.now()
	return s.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM login_challenges WHERE expires_at < ?`, now); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO login_challenges (token_hash, account_id, created_at, expires_at) VALUES (?,?,?,?)`,
			hash, accountID, now, expires)
		return err
	})
}

// MaxSecondFactorAttempts bounds the codes tried for one login challenge.
const MaxSecondFactorAttempts = 5

// errChallenge is every refusal of a challenge: unknown, expired, used up.
var errChallenge = model.Errorf(model.EUNAUTHORIZED, "This sign-in has expired or had too many wrong codes: log in again.")

// UseLoginChallenge completes the login of challenge hash with a code:
// recoveryHash, when not empty, must be an unused recovery code of the
// account (it is used up); else verify must accept the TOTP code after the
// last step used. It returns the account, and ends the challenge. A wrong
// code counts an attempt (the challenge ends at MaxSecondFactorAttempts)
// and is EUNAUTHORIZED with wrong=true.
func (s *Store) UseLoginChallenge(ctx context.Context, hash string, verify TOTPVerify, recoveryHash string) (acc *model.Account, wrong bool, err error) {
	acc, wrong, err = s.useLoginChallenge(ctx, hash, func(tx *Tx, accountID int64, _ string, now time.Time) (string, bool, error) {
		if recoveryHash != "" {
			res, err := tx.exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE id = (SELECT min(id) FROM recovery_codes
				WHERE account_id = ? AND code_hash = ? AND used_at IS NULL)`, now, accountID, recoveryHash)
			if err != nil {
				return "", false, err
			}
			n, _ := res.RowsAffected()
			return "recovery_code", n == 1, nil
		}
		var sealed string
		var last int64
		err := tx.queryRow(ctx, `SELECT secret, last_step FROM account_totp WHERE account_id = ? AND confirmed_at IS NOT NULL`, accountID).Scan(&sealed, &last)
		if isNoRows(err) {
			return "totp", false, nil
		} else if err != nil {
			return "", false, err
		}
		secret, err := s.decryptSecret(sealed)
		if err != nil {
			return "", false, err
		}
		step, ok := verify(secret, last)
		if ok {
			if _, err := tx.exec(ctx, `UPDATE account_totp SET last_step = ? WHERE account_id = ?`, step, accountID); err != nil {
				return "", false, err
			}
		}
		return "totp", ok, nil
	})
	if err == nil && wrong {
		return nil, true, model.Errorf(model.EUNAUTHORIZED, "Wrong code: type the code your app shows now, or one of your recovery codes.")
	}
	return acc, wrong, err
}

// secondFactorCheck checks a second factor for the login of accountID, in
// its transaction; passkeySession is the challenge's passkey ceremony (""
// when none was begun). It names the factor ("totp", "passkey", …).
type secondFactorCheck func(tx *Tx, accountID int64, passkeySession string, now time.Time) (via string, ok bool, err error)

// useLoginChallenge is the second step of a login, whatever its factor:
// the challenge must be current and not used up, its account enabled; a
// factor check refused counts an attempt (wrong=true, no error); one
// accepted ends the challenge and is audited.
func (s *Store) useLoginChallenge(ctx context.Context, hash string, check secondFactorCheck) (acc *model.Account, wrong bool, err error) {
	err = s.inTx(ctx, func(tx *Tx) error {
		acc, wrong = nil, false
		now := s.now()
		var accountID int64
		var attempts int
		var passkeySession sql.NullString
		err := tx.queryRow(ctx, `SELECT account_id, attempts, passkey_session FROM login_challenges WHERE token_hash = ? AND expires_at > ?`, hash, now).
			Scan(&accountID, &attempts, &passkeySession)
		if isNoRows(err) || (err == nil && attempts >= MaxSecondFactorAttempts) {
			return errChallenge
		} else if err != nil {
			return err
		}
		a, err := scanAccount(tx.queryRow(ctx, `SELECT `+accountCols+` FROM accounts a WHERE a.id = ? AND a.disabled = false`, accountID))
		if isNoRows(err) {
			return errChallenge
		} else if err != nil {
			return err
		}
		via, ok, err := check(tx, accountID, passkeySession.String, now)
		if err != nil {
			return err
		}
		if !ok {
			wrong = true
			_, err := tx.exec(ctx, `UPDATE login_challenges SET attempts = attempts + 1 WHERE token_hash = ?`, hash)
			return err // the attempt is kept; the caller refuses
		}
		if _, err := tx.exec(ctx, `DELETE FROM login_challenges WHERE token_hash = ?`, hash); err != nil {
			return err
		}
		acc = a
		return s.audit(model.WithActor(ctx, model.ActorOf(a)), tx, "auth.second_factor", "account", a.ID, map[string]any{"via": via})
	})
	return acc, wrong, err
}

// SetOwnEmail sets the e-mail address of the actor's own account (one
// without an address is asked for it at its next sign-in). Audited.
func (s *Store) SetOwnEmail(ctx context.Context, email string) error {
	act, err := ownAccount(ctx)
	if err != nil {
		return err
	}
	var v model.Validator
	model.ValidOwnEmail(&v, "email", email)
	if err := v.Err(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE accounts SET email = ?, updated_at = ? WHERE id = ?`, email, s.now(), act.AccountID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "account.email_set", "account", act.AccountID, map[string]any{"email": email})
	})
}
