package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Passkeys and security keys (WebAuthn) as a second factor (issue 16): an
// account's credentials, the registration begun and not finished, and the
// passkey ceremony of a login waiting for its second factor. The WebAuthn
// checks are auth's (callbacks, as for TOTP codes): the store hands them
// the ceremony and the credentials, and makes each check and its
// bookkeeping one transaction.

// StoredPasskey is a credential record as auth's ceremonies need it: the
// row's id, the credential id (base64url), the record (JSON) and the
// signature counter last seen.
type StoredPasskey struct {
	ID           int64
	CredentialID string
	Credential   string
	SignCount    uint32
}

// NewPasskey is a credential a registration ceremony accepted.
type NewPasskey struct {
	CredentialID string
	Credential   string
	SignCount    uint32
}

// PasskeyBegin makes a ceremony for the account with its credentials and
// returns it (the session data to keep, JSON).
type PasskeyBegin func(accountID int64, creds []StoredPasskey) (session string, err error)

// PasskeyFinish checks a registration's response against its ceremony.
type PasskeyFinish func(accountID int64, session string) (*NewPasskey, error)

// PasskeyVerify checks a login's assertion against its ceremony and the
// account's credentials: the credential used (its row id) and its new
// signature counter.
type PasskeyVerify func(accountID int64, session string, creds []StoredPasskey) (id int64, signCount uint32, ok bool)

func (s *Store) storedPasskeys(ctx context.Context, tx *Tx, accountID int64) ([]StoredPasskey, error) {
	rows, err := tx.query(ctx, `SELECT id, credential_id, credential, sign_count FROM account_passkeys WHERE account_id = ? ORDER BY id`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredPasskey
	for rows.Next() {
		var p StoredPasskey
		var n int64
		if err := rows.Scan(&p.ID, &p.CredentialID, &p.Credential, &n); err != nil {
			return nil, err
		}
		p.SignCount = uint32(n)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ListPasskeys returns the actor's own passkeys, oldest first.
func (s *Store) ListPasskeys(ctx context.Context) ([]model.Passkey, error) {
	act, err := ownAccount(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT id, name, created_at, last_used_at FROM account_passkeys WHERE account_id = ? ORDER BY id`, act.AccountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []model.Passkey{}
	for rows.Next() {
		var p model.Passkey
		var used sql.NullTime
		if err := rows.Scan(&p.ID, &p.Name, &p.Created, &used); err != nil {
			return nil, err
		}
		if used.Valid {
			t := used.Time
			p.LastUsed = &t
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// StartPasskeyRegistration begins adding a passkey to the actor's own
// account: begin makes the ceremony (its exclusion list: the account's
// credentials), kept until expires (replacing one not finished). An
// account with MaxPasskeys already is a conflict.
func (s *Store) StartPasskeyRegistration(ctx context.Context, begin PasskeyBegin, expires time.Time) error {
	act, err := ownAccount(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		creds, err := s.storedPasskeys(ctx, tx, act.AccountID)
		if err != nil {
			return err
		}
		if len(creds) >= model.MaxPasskeys {
			return model.Errorf(model.ECONFLICT, "An account has at most %d passkeys: remove one first.", model.MaxPasskeys)
		}
		session, err := begin(act.AccountID, creds)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM passkey_registrations WHERE account_id = ? OR expires_at < ?`, act.AccountID, s.now()); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO passkey_registrations (account_id, session, expires_at) VALUES (?,?,?)`, act.AccountID, session, expires)
		return err
	})
}

// AddPasskey finishes the actor's registration begun by
// StartPasskeyRegistration: finish checks the response against the kept
// ceremony, which is used up. The passkey is stored under name; when the
// account has no unused recovery codes (two-factor sign-in was off),
// codeHashes become its recovery codes and codesStored says so. Audited
// (and two-factor sign-in turned on, when it was off).
func (s *Store) AddPasskey(ctx context.Context, name string, finish PasskeyFinish, codeHashes []string) (pk model.Passkey, codesStored bool, err error) {
	act, err := ownAccount(ctx)
	if err != nil {
		return pk, false, err
	}
	var v model.Validator
	name = model.PasskeyName(&v, "name", name)
	if err := v.Err(); err != nil {
		return pk, false, err
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		now := s.now()
		var session string
		err := tx.queryRow(ctx, `SELECT session FROM passkey_registrations WHERE account_id = ? AND expires_at > ?`, act.AccountID, now).Scan(&session)
		if isNoRows(err) {
			return model.Errorf(model.ECONFLICT, "No passkey registration is waiting (or it expired): begin again.")
		} else if err != nil {
			return err
		}
		var count, codes int
		var totp bool
		if err := tx.queryRow(ctx, `SELECT (SELECT count(*) FROM account_passkeys WHERE account_id = ?),
			(SELECT count(*) FROM recovery_codes WHERE account_id = ? AND used_at IS NULL),
			EXISTS (SELECT 1 FROM account_totp WHERE account_id = ? AND confirmed_at IS NOT NULL)`,
			act.AccountID, act.AccountID, act.AccountID).Scan(&count, &codes, &totp); err != nil {
			return err
		}
		if count >= model.MaxPasskeys {
			return model.Errorf(model.ECONFLICT, "An account has at most %d passkeys: remove one first.", model.MaxPasskeys)
		}
		np, err := finish(act.AccountID, session)
		if err != nil {
			return err
		}
		var taken bool
		if err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM account_passkeys WHERE credential_id = ?)`, np.CredentialID).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return model.Errorf(model.ECONFLICT, "This passkey is registered already.")
		}
		if _, err := tx.exec(ctx, `DELETE FROM passkey_registrations WHERE account_id = ?`, act.AccountID); err != nil {
			return err
		}
		pk = model.Passkey{Name: name, Created: now}
		if err := tx.queryRow(ctx, `INSERT INTO account_passkeys (account_id, credential_id, name, credential, sign_count, created_at)
			VALUES (?,?,?,?,?,?) RETURNING id`, act.AccountID, np.CredentialID, name, np.Credential, int64(np.SignCount), now).Scan(&pk.ID); err != nil {
			return err
		}
		if codes == 0 {
			if err := s.replaceRecoveryCodes(ctx, tx, act.AccountID, codeHashes); err != nil {
				return err
			}
			codesStored = true
		}
		if err := s.audit(ctx, tx, "auth.passkey_added", "account", act.AccountID, map[string]any{"passkey": pk.ID, "name": name}); err != nil {
			return err
		}
		if count == 0 && !totp {
			return s.audit(ctx, tx, "auth.two_factor_on", "account", act.AccountID, map[string]any{"via": "passkey", "recovery_codes": len(codeHashes)})
		}
		return nil
	})
	if err != nil {
		return model.Passkey{}, false, err
	}
	return pk, codesStored, nil
}

// RenamePasskey renames one of the actor's own passkeys (anyone else's is
// 404). Audited.
func (s *Store) RenamePasskey(ctx context.Context, id int64, name string) (model.Passkey, error) {
	act, err := ownAccount(ctx)
	if err != nil {
		return model.Passkey{}, err
	}
	var v model.Validator
	name = model.PasskeyName(&v, "name", name)
	if err := v.Err(); err != nil {
		return model.Passkey{}, err
	}
	var pk model.Passkey
	err = s.inTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE account_passkeys SET name = ? WHERE id = ? AND account_id = ?`, name, id, act.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return model.NotFound("passkey")
		}
		var used sql.NullTime
		if err := tx.queryRow(ctx, `SELECT id, name, created_at, last_used_at FROM account_passkeys WHERE id = ?`, id).
			Scan(&pk.ID, &pk.Name, &pk.Created, &used); err != nil {
			return err
		}
		if used.Valid {
			pk.LastUsed = &used.Time
		}
		return s.audit(ctx, tx, "auth.passkey_renamed", "account", act.AccountID, map[string]any{"passkey": id, "name": name})
	})
	if err != nil {
		return model.Passkey{}, err
	}
	return pk, nil
}

// DeletePasskey removes one of the actor's own passkeys (anyone else's is
// 404). The account's last second factor is not removed this way (a
// conflict): turning two-factor sign-in off asks for the password. Audited.
func (s *Store) DeletePasskey(ctx context.Context, id int64) error {
	act, err := ownAccount(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		var name string
		err := tx.queryRow(ctx, `SELECT name FROM account_passkeys WHERE id = ? AND account_id = ?`, id, act.AccountID).Scan(&name)
		if isNoRows(err) {
			return model.NotFound("passkey")
		} else if err != nil {
			return err
		}
		var others int
		var totp bool
		if err := tx.queryRow(ctx, `SELECT (SELECT count(*) FROM account_passkeys WHERE account_id = ? AND id <> ?),
			EXISTS (SELECT 1 FROM account_totp WHERE account_id = ? AND confirmed_at IS NOT NULL)`,
			act.AccountID, id, act.AccountID).Scan(&others, &totp); err != nil {
			return err
		}
		if others == 0 && !totp {
			return model.Errorf(model.ECONFLICT, "This is your only second factor: turn two-factor sign-in off instead (with your password and a recovery code), or add another first.")
		}
		if _, err := tx.exec(ctx, `DELETE FROM account_passkeys WHERE id = ?`, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "auth.passkey_removed", "account", act.AccountID, map[string]any{"passkey": id, "name": name})
	})
}

// BeginLoginPasskey begins the passkey ceremony of the login waiting on
// challenge hash: begin makes it for the account's credentials, and it is
// kept with the challenge (replacing one begun before), ending with it.
// Before any actor exists: the challenge is the credential.
func (s *Store) BeginLoginPasskey(ctx context.Context, hash string, begin PasskeyBegin) error {
	return s.inTx(ctx, func(tx *Tx) error {
		var accountID int64
		var attempts int
		err := tx.queryRow(ctx, `SELECT account_id, attempts FROM login_challenges WHERE token_hash = ? AND expires_at > ?`, hash, s.now()).
			Scan(&accountID, &attempts)
		if isNoRows(err) || (err == nil && attempts >= MaxSecondFactorAttempts) {
			return errChallenge
		} else if err != nil {
			return err
		}
		creds, err := s.storedPasskeys(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if len(creds) == 0 {
			return model.Errorf(model.ECONFLICT, "This account has no passkey: type the code your app shows, or a recovery code.")
		}
		session, err := begin(accountID, creds)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `UPDATE login_challenges SET passkey_session = ? WHERE token_hash = ?`, session, hash)
		return err
	})
}

// UseLoginPasskey completes the login of challenge hash with a passkey:
// verify must accept the assertion for the ceremony BeginLoginPasskey kept
// and one of the account's credentials; its signature counter is stored.
// As UseLoginChallenge: a refused assertion counts an attempt and is
// EUNAUTHORIZED with wrong=true; an accepted one ends the challenge (the
// ceremony cannot be used again).
func (s *Store) UseLoginPasskey(ctx context.Context, hash string, verify PasskeyVerify) (acc *model.Account, wrong bool, err error) {
	acc, wrong, err = s.useLoginChallenge(ctx, hash, func(tx *Tx, accountID int64, session string, now time.Time) (string, bool, error) {
		if session == "" {
			return "passkey", false, nil
		}
		creds, err := s.storedPasskeys(ctx, tx, accountID)
		if err != nil {
			return "", false, err
		}
		id, count, ok := verify(accountID, session, creds)
		if !ok {
			return "passkey", false, nil
		}
		res, err := tx.exec(ctx, `UPDATE account_passkeys SET sign_count = ?, last_used_at = ? WHERE id = ? AND account_id = ?`, int64(count), now, id, accountID)
		if err != nil {
			return "", false, err
		}
		n, _ := res.RowsAffected()
		return "passkey", n == 1, nil
	})
	if err == nil && wrong {
		return nil, true, model.Errorf(model.EUNAUTHORIZED, "That passkey was not accepted: use a passkey registered for this account, or type a code.")
	}
	return acc, wrong, err
}
