package api

import (
	"encoding/json"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Passkeys and security keys (WebAuthn) as a second factor (issue 16): an
// account's own passkeys (registered with the standard creation options
// and attestation response), and the login's second step with one.

// ListPasskeys lists the signed-in account's passkeys.
func (a *API) ListPasskeys(w http.ResponseWriter, r *http.Request) error {
	l, err := a.Store.ListPasskeys(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"passkeys": l, "max": model.MaxPasskeys})
}

// PasskeyOptions begins a registration: the options for
// navigator.credentials.create.
func (a *API) PasskeyOptions(w http.ResponseWriter, r *http.Request) error {
	c, err := a.Auth.BeginPasskeyRegistration(r.Context(), identity(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

type addPasskeyRequest struct {
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

// AddPasskey finishes the registration with the authenticator's answer.
// Two-factor sign-in was off: it is on, and the recovery codes are in the
// answer (shown once).
func (a *API) AddPasskey(w http.ResponseWriter, r *http.Request) error {
	var req addPasskeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	pk, codes, err := a.Auth.FinishPasskeyRegistration(r.Context(), identity(r), req.Name, req.Credential)
	if err != nil {
		return err
	}
	out := map[string]any{"passkey": pk}
	if codes != nil {
		out["recovery_codes"] = codes
	}
	return writeJSON(w, http.StatusCreated, out)
}

type renamePasskeyRequest struct {
	Name *string `json:"name"`
}

// RenamePasskey renames one of the account's passkeys.
func (a *API) RenamePasskey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "passkey")
	if err != nil {
		return err
	}
	var req renamePasskeyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return model.Invalid("name", "is required")
	}
	pk, err := a.Cases.RenamePasskey(r.Context(), id, *req.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, pk)
}

// DeletePasskey removes one of the account's passkeys.
func (a *API) DeletePasskey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "passkey")
	if err != nil {
		return err
	}
	if err := a.Cases.DeletePasskey(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type challengeRequest struct {
	Challenge string `json:"challenge"`
}

// LoginPasskeyOptions begins the passkey ceremony of a login waiting for
// its second factor: the options for navigator.credentials.get.
func (a *API) LoginPasskeyOptions(w http.ResponseWriter, r *http.Request) error {
	var req challengeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	c, err := a.Auth.BeginPasskeyLogin(r.Context(), req.Challenge)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

// completeLogin is the second step with a code or with a passkey.
func (a *API) completeLogin(r *http.Request, req secondFactorRequest) (string, *model.Session, *model.Account, error) {
	if len(req.Passkey) > 0 && string(req.Passkey) != "null" {
		if req.Code != "" {
			return "", nil, nil, model.Invalid("code", "give a code or a passkey, not both")
		}
		return a.Auth.CompletePasskeyLogin(r.Context(), req.Challenge, req.Passkey, auth.ClientIP(r), r.UserAgent())
	}
	return a.Auth.CompleteLogin(r.Context(), req.Challenge, req.Code, auth.ClientIP(r), r.UserAgent())
}

// TwoFactorPasskeyOptions begins a passkey ceremony for the account itself
// (to turn two-factor sign-in off with a passkey): a challenge and the
// options for navigator.credentials.get.
func (a *API) TwoFactorPasskeyOptions(w http.ResponseWriter, r *http.Request) error {
	c, err := a.Auth.BeginPasskeyCheck(r.Context(), identity(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}
