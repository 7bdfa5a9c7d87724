package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Two-factor sign-in (issue 16): the login's second step, and an account's
// own authenticator, recovery codes and requirement for its children.

type secondFactorResponse struct {
	SecondFactor string    `json:"second_factor"` // "totp"
	Methods      []string  `json:"methods"`       // "totp" (codes and recovery codes), "passkey"
	Challenge    string    `json:"challenge"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// secondFactorAnswer answers a login that needs its second factor, when
// err says so.
func secondFactorAnswer(w http.ResponseWriter, err error) (bool, error) {
	var sf *auth.SecondFactorNeeded
	if !errors.As(err, &sf) {
		return false, nil
	}
	return true, writeJSON(w, http.StatusOK, secondFactorResponse{SecondFactor: "totp", Methods: sf.Methods(), Challenge: sf.Challenge, ExpiresAt: sf.Expires})
}

type secondFactorRequest struct {
	Challenge string          `json:"challenge"`
	Code      string          `json:"code"`
	Passkey   json.RawMessage `json:"passkey"` // a passkey's assertion instead of a code
}

// LoginSecondFactor completes a login with the authenticator's code, a
// recovery code or a passkey's assertion, and answers as Login does.
func (a *API) LoginSecondFactor(w http.ResponseWriter, r *http.Request) error {
	var req secondFactorRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	tok, se, acc, err := a.completeLogin(r, req)
	if err != nil {
		return err
	}
	a.SetSessionCookie(w, r, tok, se.Expires)
	return writeJSON(w, http.StatusOK, loginResponse{Token: tok, CSRFToken: se.CSRFToken, ExpiresAt: se.Expires, Account: acc})
}

// TwoFactorStatus returns the signed-in account's two-factor sign-in.
func (a *API) TwoFactorStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := a.Store.GetTwoFactorStatus(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// StartTwoFactor makes a new authenticator secret (unconfirmed).
func (a *API) StartTwoFactor(w http.ResponseWriter, r *http.Request) error {
	setup, err := a.Auth.StartTwoFactor(r.Context(), identity(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, setup)
}

type codeRequest struct {
	Code     string `json:"code"`
	Password string `json:"password"`
	// Or a passkey's assertion for the challenge of
	// POST /me/two-factor/passkey-options (turning it off).
	Challenge string          `json:"challenge"`
	Passkey   json.RawMessage `json:"passkey"`
}

// ConfirmTwoFactor turns two-factor sign-in on with the first code and
// returns the recovery codes (shown once).
func (a *API) ConfirmTwoFactor(w http.ResponseWriter, r *http.Request) error {
	var req codeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	codes, err := a.Auth.ConfirmTwoFactor(r.Context(), req.Code)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"enabled": true, "recovery_codes": codes})
}

// DisableTwoFactor turns it off, with the password and a code.
func (a *API) DisableTwoFactor(w http.ResponseWriter, r *http.Request) error {
	var req codeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	var err error
	if len(req.Passkey) > 0 && string(req.Passkey) != "null" {
		err = a.Auth.DisableTwoFactorPasskey(r.Context(), identity(r), req.Password, req.Challenge, req.Passkey, auth.ClientIP(r))
	} else {
		err = a.Auth.DisableTwoFactor(r.Context(), identity(r), req.Password, req.Code, auth.ClientIP(r))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type policyRequest struct {
	RequireForChildren *bool `json:"require_for_children"`
}

// SetTwoFactorPolicy sets whether the account requires two-factor sign-in
// of its children.
func (a *API) SetTwoFactorPolicy(w http.ResponseWriter, r *http.Request) error {
	var req policyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.RequireForChildren == nil {
		return model.Invalid("require_for_children", "is required (true or false)")
	}
	if err := a.Cases.SetChildrenTwoFactorRequired(r.Context(), *req.RequireForChildren); err != nil {
		return err
	}
	return a.TwoFactorStatus(w, r)
}

// ResetChildTwoFactor removes a child account's two-factor sign-in.
func (a *API) ResetChildTwoFactor(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "account")
	if err != nil {
		return err
	}
	if err := a.Cases.ResetChildTwoFactor(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
