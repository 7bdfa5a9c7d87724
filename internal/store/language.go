package store

import (
	"context"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// SetOwnLanguage sets the portal language of the person signed in (the
// real one while working in an installer's account: the page is read by
// them). An installer's is also its e-mails' language. Audited.
func (s *Store) SetOwnLanguage(ctx context.Context, lang string) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if act.Real != nil {
		act = act.Real
	}
	if act.AccountID == 0 {
		return model.Errorf(model.EFORBIDDEN, "Only a signed-in person has a language.")
	}
	var v model.Validator
	v.Check(slices.Contains(model.Languages, lang), "language", "must be one of %s", strings.Join(model.Languages, ", "))
	if err := v.Err(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE accounts SET language = ?, updated_at = ? WHERE id = ?`, lang, s.now(), act.AccountID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "account.language_set", "account", act.AccountID, map[string]any{"language": lang})
	})
}
