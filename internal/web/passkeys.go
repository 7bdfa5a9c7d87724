package web

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Passkeys on the portal's Two-factor page (issue 16). The page's script
// (static/passkeys.js) asks the API for the creation options and the
// browser for the key, then posts the answer here in a plain form.

// AddPasskey stores the passkey the browser made; two-factor sign-in was
// off: it is on, and the recovery codes are shown once.
func (w *Web) AddPasskey(rw http.ResponseWriter, r *http.Request) error {
	pk, codes, err := w.auth.FinishPasskeyRegistration(r.Context(), identity(r), r.PostFormValue("name"), []byte(r.PostFormValue("credential")))
	switch model.ErrorCode(err) {
	case "":
	case model.EINVALID, model.ECONFLICT:
		p := w.page(r, tr(r, "Two-factor sign-in"), "", nil)
		p.Fail(err)
		p.Error = tr(r, "The passkey was not added: %s", p.Error)
		status := http.StatusBadRequest
		if model.ErrorCode(err) == model.ECONFLICT {
			status = http.StatusConflict
		}
		return w.twoFactorPage(rw, r, status, p, twoFactorData{})
	default:
		return err
	}
	if codes == nil {
		return redirect(rw, r, "/account/two-factor", tr(r, "The passkey “%s” is added.", pk.Name))
	}
	p := w.page(r, tr(r, "Two-factor sign-in"), "", nil)
	p.Notice = tr(r, "The passkey “%s” is added: two-factor sign-in is on.", pk.Name)
	return w.twoFactorPage(rw, r, http.StatusOK, p, twoFactorData{Codes: codes})
}

func passkeyID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, model.NotFound("passkey")
	}
	return id, nil
}

// RenamePasskey renames one of the account's passkeys.
func (w *Web) RenamePasskey(rw http.ResponseWriter, r *http.Request) error {
	id, err := passkeyID(r)
	if err != nil {
		return err
	}
	pk, err := w.cases.RenamePasskey(r.Context(), id, r.PostFormValue("name"))
	if model.ErrorCode(err) == model.EINVALID {
		p := w.page(r, tr(r, "Two-factor sign-in"), "", nil)
		p.Fail(err)
		p.Error, p.Fields = tr(r, "The passkey's name %s.", p.Fields["name"]), nil
		return w.twoFactorPage(rw, r, http.StatusBadRequest, p, twoFactorData{})
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/account/two-factor", tr(r, "The passkey is renamed “%s”.", pk.Name))
}

// DeletePasskey removes one of the account's passkeys (not the last
// second factor: that is turning two-factor sign-in off).
func (w *Web) DeletePasskey(rw http.ResponseWriter, r *http.Request) error {
	id, err := passkeyID(r)
	if err != nil {
		return err
	}
	err = w.cases.DeletePasskey(r.Context(), id)
	if model.ErrorCode(err) == model.ECONFLICT {
		p := w.page(r, tr(r, "Two-factor sign-in"), "", nil)
		p.Fail(err)
		p.Fields = nil
		return w.twoFactorPage(rw, r, http.StatusConflict, p, twoFactorData{})
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/account/two-factor", tr(r, "The passkey is removed."))
}
