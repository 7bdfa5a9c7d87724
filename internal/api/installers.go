package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// installerOut is an installer as the API shows it: the guide's fields with
// the names of the API shape.
type installerOut struct {
	ID                    int64     `json:"id"`
	Account               string    `json:"account"`
	Name                  string    `json:"name"`
	Business              string    `json:"business"`
	Company               string    `json:"company"`
	Email                 string    `json:"email"`
	Phone                 string    `json:"phone"`
	TimeZone              string    `json:"time_zone"`
	Language              string    `json:"language"`
	ChargeMode            string    `json:"charge_mode"`
	ConnectType           string    `json:"connect_type"`
	RTPConfusion          bool      `json:"rtp_confusion"`
	AccessWithoutPassword bool      `json:"access_without_password"`
	ParentID              int64     `json:"parent_id"`
	CreatedAt             time.Time `json:"created_at"`
}

// InstallerOut converts an account for the API.
func InstallerOut(a *model.Account) installerOut {
	return installerOut{ID: a.ID, Account: a.Username, Name: a.Name, Business: a.Business, Company: a.Company, Email: a.Email,
		Phone: a.Phone, TimeZone: a.TimeZone, Language: a.Language, ChargeMode: a.ChargeMode, ConnectType: a.ConnectType,
		RTPConfusion: a.RTPConfusion, AccessWithoutPassword: a.AccessWithoutPassword, ParentID: a.ParentID, CreatedAt: a.Created}
}

type installerRequest struct {
	Account      *string `json:"account"`
	Name         *string `json:"name"`
	Business     *string `json:"business"`
	Company      *string `json:"company"`
	Email        *string `json:"email"`
	Phone        *string `json:"phone"`
	TimeZone     *string `json:"time_zone"`
	Language     *string `json:"language"`
	ChargeMode   *string `json:"charge_mode"`
	ConnectType  *string `json:"connect_type"`
	RTPConfusion *bool   `json:"rtp_confusion"`
	ParentID     *int64  `json:"parent_id"`
}

func (q installerRequest) patch() model.InstallerPatch {
	return model.InstallerPatch{Name: q.Name, Business: q.Business, Company: q.Company, Email: q.Email, Phone: q.Phone,
		TimeZone: q.TimeZone, Language: q.Language, ChargeMode: q.ChargeMode, ConnectType: q.ConnectType, RTPConfusion: q.RTPConfusion}
}

type createdInstaller struct {
	installerOut
	WelcomeMail string `json:"welcome_mail"` // "sent" or "failed: " and what to do
}

// CreateInstaller adds an installer under the caller (or parent_id) and
// mails it a link to set its password.
func (a *API) CreateInstaller(w http.ResponseWriter, r *http.Request) error {
	var req installerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.ChargeMode != nil && *req.ChargeMode == model.ChargeDistributor {
		return model.Invalid("charge_mode", "must be installer or enduser")
	}
	acc := &model.Account{ParentID: identity(r).Effective().ID}
	if req.ParentID != nil {
		acc.ParentID = *req.ParentID
	}
	if req.Account != nil {
		acc.Username = *req.Account
	}
	req.patch().Apply(acc)
	created, err := a.Cases.CreateInstaller(r.Context(), acc)
	if err != nil {
		return renameField(err, "username", "account")
	}
	out := createdInstaller{installerOut: InstallerOut(created.Installer), WelcomeMail: "sent"}
	if created.WelcomeMail != nil {
		out.WelcomeMail = "failed: " + model.ErrorMessage(created.WelcomeMail)
	}
	return writeJSON(w, http.StatusCreated, out)
}

// renameField reports a store field under the API's name for it.
func renameField(err error, from, to string) error {
	e, ok := err.(*model.Error)
	if !ok || e.Fields[from] == "" {
		return err
	}
	f := map[string]string{}
	for k, v := range e.Fields {
		if k == from {
			k = to
		}
		f[k] = v
	}
	return &model.Error{Code: e.Code, Message: strings.Replace(e.Message, from+":", to+":", 1), Fields: f}
}

// ListInstallers searches installers by account and email.
func (a *API) ListInstallers(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	q := r.URL.Query()
	f := model.InstallerFilter{Account: q.Get("account"), Email: q.Get("email"), Page: model.ParsePage(q, &v)}
	v.Check(len(f.Account) <= 64, "account", "must be at most 64 characters")
	v.Check(len(f.Email) <= 254, "email", "must be at most 254 characters")
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListInstallers(r.Context(), f)
	if err != nil {
		return err
	}
	out := model.List[installerOut]{Total: l.Total, Page: l.Page, PerPage: l.PerPage, Items: []installerOut{}}
	for _, it := range l.Items {
		out.Items = append(out.Items, InstallerOut(it))
	}
	return writeList(w, format, "installers", out,
		[]string{"account", "company", "email", "phone", "business", "time_zone", "language", "charge_mode", "connect_type", "rtp_confusion", "access_without_password", "created_at"},
		func(x installerOut) []string {
			return []string{x.Account, x.Company, x.Email, x.Phone, x.Business, x.TimeZone, x.Language, x.ChargeMode, x.ConnectType,
				boolText(x.RTPConfusion), boolText(x.AccessWithoutPassword), formatTime(x.CreatedAt)}
		})
}

func boolText(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// GetInstaller returns one installer with what deleting it would remove.
func (a *API) GetInstaller(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "installer")
	if err != nil {
		return err
	}
	inst, err := a.Store.GetInstaller(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, InstallerOut(inst))
}

// UpdateInstaller edits an installer; omitted fields keep their value.
func (a *API) UpdateInstaller(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "installer")
	if err != nil {
		return err
	}
	var req installerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Account != nil || req.ParentID != nil {
		return model.Invalid("account", "cannot be changed")
	}
	inst, err := a.Cases.UpdateInstaller(r.Context(), id, req.patch())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, InstallerOut(inst))
}

// DeleteInstaller deletes an installer; one that still owns projects, users
// or devices needs ?confirm=true, and the 409 lists what would go.
func (a *API) DeleteInstaller(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "installer")
	if err != nil {
		return err
	}
	confirm := r.URL.Query().Get("confirm")
	if confirm != "" && confirm != "true" && confirm != "false" {
		return model.Invalid("confirm", "must be true or false")
	}
	impact, err := a.Cases.DeleteInstaller(r.Context(), id, confirm == "true")
	if model.ErrorCode(err) == model.ECONFLICT {
		return writeJSON(w, http.StatusConflict, map[string]any{"error": map[string]any{"code": model.ECONFLICT,
			"message": model.ErrorMessage(err), "fields": model.ErrorFields(err)}, "would_delete": impact})
	} else if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deleted": impact})
}

// ResetInstallerPassword mails the installer a new single-use link.
func (a *API) ResetInstallerPassword(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "installer")
	if err != nil {
		return err
	}
	inst, err := a.Cases.ResetInstallerPassword(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]any{"sent_to": inst.Email})
}

type accessRequest struct {
	Enabled *bool `json:"enabled"`
}

// SetAccessWithoutPassword is the installer's own switch.
func (a *API) SetAccessWithoutPassword(w http.ResponseWriter, r *http.Request) error {
	var req accessRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return model.Invalid("enabled", "is required (true or false)")
	}
	if err := a.Cases.SetAccessWithoutPassword(r.Context(), *req.Enabled); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]bool{"enabled": *req.Enabled})
}

// Impersonate opens a session acting as the installer (at most an hour).
func (a *API) Impersonate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "installer")
	if err != nil {
		return err
	}
	if identity(r).ActingAs != nil {
		return model.Errorf(model.EFORBIDDEN, "Already working as an installer.")
	}
	tok, se, err := a.Cases.StartActing(r.Context(), usecase.ActingStart{InstallerID: id, IP: auth.ClientIP(r), UserAgent: r.UserAgent()})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "csrf_token": se.CSRFToken, "expires_at": se.Expires, "installer_id": id})
}
