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
// (shown once, in the session's URL path) and the session. Audited.
func (s *Store) CreateRemoteSession(ctx context.Context, mac string) (string, *model.RemoteSession, error) {
	act, err := actor(ctx)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	rs := &model.RemoteSession{AccountID: act.AccountID, Created: now, Expires: now.Add(RemoteSessionTTL)}
	err = s.inTx(ctx, func(tx *Tx) error {
		d, err := s.getDevice(ctx, tx.tx, act, mac)
		if err != nil {
			return err
		}
		if !d.Online {
			return model.Errorf(model.ECONFLICT, "Device %s is offline: Remote Control needs it connected.", d.MAC)
		}
		rs.MAC = d.MAC
		if _, err := tx.exec(ctx, `INSERT INTO remote_sessions (token_hash, device_id, account_id, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?)`, remoteTokenHash(token), d.ID, act.AccountID, now, rs.Expires); err != nil {
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

func remoteTokenHash(token string) string {
	h := sha256.Sum256([]byte("remote:" + token))
	return hex.EncodeToString(h[:])
}
