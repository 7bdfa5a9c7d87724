package api

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string         `json:"token"`
	CSRFToken string         `json:"csrf_token"`
	ExpiresAt time.Time      `json:"expires_at"`
	Account   *model.Account `json:"account"`
}

// Login checks credentials, sets the session cookie and returns the same
// session as a bearer token.
func (a *API) Login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	tok, se, acc, err := a.Auth.Login(r.Context(), req.Username, req.Password, auth.ClientIP(r), r.UserAgent())
	if ok, werr := secondFactorAnswer(w, err); ok {
		return werr
	}
	if err != nil {
		return err
	}
	a.SetSessionCookie(w, r, tok, se.Expires)
	return writeJSON(w, http.StatusOK, loginResponse{Token: tok, CSRFToken: se.CSRFToken, ExpiresAt: se.Expires, Account: acc})
}

type recoveryRequest struct {
	Login string `json:"login"`
}

// RecoverPassword is "Forgot password?": 202 with the same answer whether
// an account matched or not; the link goes by e-mail.
func (a *API) RecoverPassword(w http.ResponseWriter, r *http.Request) error {
	var req recoveryRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := a.Cases.RecoverPassword(r.Context(), req.Login, auth.ClientIP(r)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"message": usecase.RecoveryAnswer})
}

// Logout ends the session of the request.
func (a *API) Logout(w http.ResponseWriter, r *http.Request) error {
	if err := a.Auth.Logout(r.Context(), identity(r)); err != nil {
		return err
	}
	a.ClearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Me returns the signed-in account.
func (a *API) Me(w http.ResponseWriter, r *http.Request) error {
	acc, err := a.Store.GetAccount(r.Context(), identity(r).Effective().ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, acc)
}

type tokenRequest struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expires_in_days"`
}

type tokenResponse struct {
	Token string `json:"token"`
	*model.APIToken
}

// CreateToken makes a long-lived bearer token for scripts; the token is
// shown once.
func (a *API) CreateToken(w http.ResponseWriter, r *http.Request) error {
	var req tokenRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	tok, t, err := a.Cases.CreateAPIToken(r.Context(), req.Name, req.ExpiresInDays)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, tokenResponse{Token: tok, APIToken: t})
}

// ListTokens lists the caller's API tokens (never the tokens themselves).
func (a *API) ListTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.Store.ListAPITokens(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": ts})
}

// DeleteToken revokes one of the caller's API tokens.
func (a *API) DeleteToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "API token")
	if err != nil {
		return err
	}
	if err := a.Cases.DeleteAPIToken(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type passwordChangeRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// ChangePassword changes the caller's own password. Every other session and
// API token of the account ends; the caller gets a new session (cookie and
// token) in the answer.
func (a *API) ChangePassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordChangeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	tok, se, err := a.Auth.ChangePassword(r.Context(), identity(r), req.CurrentPassword, req.NewPassword, auth.ClientIP(r), r.UserAgent())
	if err != nil {
		return err
	}
	a.SetSessionCookie(w, r, tok, se.Expires)
	return writeJSON(w, http.StatusOK, loginResponse{Token: tok, CSRFToken: se.CSRFToken, ExpiresAt: se.Expires, Account: identity(r).Account})
}
