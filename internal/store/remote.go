package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Remote Control sessions (DESIGN.md §3): a random token, kept hashed,
// bound to the account that opened it and valid for a short while.

// RemoteSessionTTL is how long a Remote Control link works.
const RemoteSessionTTL = 15 * time.Minute

// CreateRemoteSession opens a Remote Control session for the device mac of
// the caller's subtree; the device must be online. It returns the token
// (shown once, in the session's URL path) and the session; rs.Handoff is a
// single-use code with which a browser claims the session on a separate
// Remote Control origin (ClaimRemoteSession). Audited.
func (s *Store) CreateRemoteSession(ctx context.Context, mac string) (string, *model.RemoteSession, error) {
	act, err := actor(ctx)
	if err != nil {
		return "", nil, err
	}
	token, handoff := randomToken(), randomToken()
	now := s.now()
	rs := &model.RemoteSession{AccountID: act.AccountID, Created: now, Expires: now.Add(RemoteSessionTTL), Handoff: handoff}
	err = s.inTx(ctx, func(tx *Tx) error {
		d, err := s.getDevice(ctx, tx.tx, act, mac)
		if err != nil {
			return err
		}
		if err := s.credentialsCurrent(ctx, tx, act); err != nil {
			return err
		}
		if !d.Online {
			return model.Errorf(model.ECONFLICT, "Device %s is offline: Remote Control needs it connected.", d.MAC)
		}
		rs.MAC = d.MAC
		// Opened while acting, the session also belongs to the real account:
		// revoking the access or ending that account's credentials ends it.
		var actingBy *int64
		if act.Real != nil {
			actingBy = &act.Real.AccountID
		}
		if _, err := tx.exec(ctx, `INSERT INTO remote_sessions (token_hash, device_id, account_id, created_at, expires_at, handoff_hash, acting_by)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, remoteTokenHash(token), d.ID, act.AccountID, now, rs.Expires, remoteTokenHash(handoff), actingBy); err != nil {
			return err
		}
		// Expired sessions of the device go with each new one.
		if _, err := tx.exec(ctx, `DELETE FROM remote_sessions WHERE device_id = ? AND expires_at < ?`, d.ID, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, "device.remote_control", "device", d.MAC, map[string]any{"expires_at": rs.Expires.UTC().Format(time.RFC3339)})
	})
	if err != nil {
		return "", nil, err
	}
	return token, rs, nil
}

// credentialsCurrent refuses an actor whose account (or, acting, whose
// installer or real account) had its credentials ended since the request
// authenticated, or, acting, whose installer revoked access without
// password: what it opens would outlive that end. The no-op update
// locks the account row, so a password change that has not committed yet
// is waited for (and then seen) rather than missed.
func (s *Store) credentialsCurrent(ctx context.Context, tx *Tx, act *model.Actor) error {
	for a := act; a != nil; a = a.Real {
		if a.AccountID == 0 {
			continue
		}
		q := `UPDATE accounts SET credential_epoch = credential_epoch WHERE id = ? AND credential_epoch = ?`
		if a == act && act.Real != nil {
			// Working as the installer: only while it grants the access.
			q += ` AND access_without_password = true`
		}
		res, err := tx.exec(ctx, q, a.AccountID, a.Epoch)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return model.Errorf(model.EUNAUTHORIZED, "Your sign-in has ended (a password changed or the access was revoked): sign in again.")
		}
	}
	return nil
}

// RemoteSessionDevice returns the MAC of the device a Remote Control token
// opens, for the account that opened it only: another account, or a token
// that never existed, gets ENOTFOUND; an expired one EFORBIDDEN saying so.
// The device must still be in the caller's subtree.
func (s *Store) RemoteSessionDevice(ctx context.Context, token string) (string, error) {
	act, err := actor(ctx)
	if err != nil {
		return "", err
	}
	cond, args := installerScope(act, "d.installer_id")
	var mac string
	var accountID int64
	var expires time.Time
	err = s.queryRow(ctx, `SELECT d.mac, r.account_id, r.expires_at FROM remote_sessions r JOIN devices d ON d.id = r.device_id
		WHERE r.token_hash = ? AND `+cond, append([]any{remoteTokenHash(token)}, args...)...).Scan(&mac, &accountID, &expires)
	if isNoRows(err) || (err == nil && accountID != act.AccountID) {
		return "", model.Errorf(model.ENOTFOUND, "No such Remote Control session for this account.")
	} else if err != nil {
		return "", err
	}
	if !s.now().Before(expires) {
		return "", model.Errorf(model.EFORBIDDEN, "This Remote Control session expired at %s UTC: open a new one from the device page.", expires.UTC().Format("2006-01-02 15:04"))
	}
	return mac, nil
}

// RemoteHandoffTTL is how long a Remote Control link's handoff code may be
// claimed after the session opened.
const RemoteHandoffTTL = 2 * time.Minute

// ClaimRemoteSession lets the browser that follows a Remote Control link
// on the separate Remote Control origin (where the portal's cookies do not
// go) claim the session with the link's single-use handoff code, within
// RemoteHandoffTTL. It returns the device's MAC and a secret for that
// browser's cookie. A used, wrong or late code is ENOTFOUND / EFORBIDDEN.
// (System side: the code is the proof.)
func (s *Store) ClaimRemoteSession(ctx context.Context, token, handoff string) (mac, browserSecret string, err error) {
	if _, err := actor(ctx); err != nil {
		return "", "", err
	}
	secret := randomToken()
	now := s.now()
	err = s.inTx(ctx, func(tx *Tx) error {
		var created, expires time.Time
		var handoffHash, browserHash string
		err := tx.queryRow(ctx, `SELECT d.mac, r.created_at, r.expires_at, r.handoff_hash, r.browser_hash FROM remote_sessions r
			JOIN devices d ON d.id = r.device_id WHERE r.token_hash = ?`, remoteTokenHash(token)).Scan(&mac, &created, &expires, &handoffHash, &browserHash)
		if isNoRows(err) || (err == nil && (handoffHash == "" || handoffHash != remoteTokenHash(handoff))) {
			return model.Errorf(model.ENOTFOUND, "No such Remote Control session: open it again from the device page.")
		} else if err != nil {
			return err
		}
		if browserHash != "" {
			return model.Errorf(model.EFORBIDDEN, "This Remote Control link was used already: open a new session from the device page.")
		}
		if !now.Before(expires) || now.Sub(created) > RemoteHandoffTTL {
			return model.Errorf(model.EFORBIDDEN, "This Remote Control link expired: open a new session from the device page.")
		}
		_, err = tx.exec(ctx, `UPDATE remote_sessions SET browser_hash = ? WHERE token_hash = ? AND browser_hash = ''`,
			remoteTokenHash(secret), remoteTokenHash(token))
		return err
	})
	if err != nil {
		return "", "", err
	}
	return mac, secret, nil
}

// RemoteSessionBrowser returns the MAC of the device a Remote Control
// session opens on the separate origin, for the browser that claimed it
// (its secret) only, until the session expires. (System side.)
func (s *Store) RemoteSessionBrowser(ctx context.Context, token, browserSecret string) (string, error) {
	if _, err := actor(ctx); err != nil {
		return "", err
	}
	var mac, browserHash string
	var expires time.Time
	err := s.queryRow(ctx, `SELECT d.mac, r.expires_at, r.browser_hash FROM remote_sessions r JOIN devices d ON d.id = r.device_id
		WHERE r.token_hash = ?`, remoteTokenHash(token)).Scan(&mac, &expires, &browserHash)
	if isNoRows(err) || (err == nil && (browserHash == "" || browserSecret == "" || browserHash != remoteTokenHash(browserSecret))) {
		return "", model.Errorf(model.ENOTFOUND, "No such Remote Control session for this browser: open it from the device page.")
	} else if err != nil {
		return "", err
	}
	if !s.now().Before(expires) {
		return "", model.Errorf(model.EFORBIDDEN, "This Remote Control session expired at %s UTC: open a new one from the device page.", expires.UTC().Format("2006-01-02 15:04"))
	}
	return mac, nil
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system's randomness failing is not recoverable
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func remoteTokenHash(token string) string {
	h := sha256.Sum256([]byte("remote:" + token))
	return hex.EncodeToString(h[:])
}
