// Package web is the portal: server-rendered pages, one file per module of
// the guide, templates and static files embedded in the binary. Handlers
// parse the form, call one use case (internal/usecase) — or, for a read, the
// tenancy-scoped store — and render. It never imports internal/api
// (ARCHITECTURE.md).
package web

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Handler is a portal handler that reports failure as an error.
type Handler func(w http.ResponseWriter, r *http.Request) error

// Deps is what the portal needs from the server.
type Deps struct {
	Cases       *usecase.Cases // the use cases; handlers parse, call one, and render its result
	Store       *store.Store
	Auth        *auth.Service
	SetCookie   func(w http.ResponseWriter, r *http.Request, token string, expires time.Time)
	ClearCookie func(w http.ResponseWriter, r *http.Request)
	// SetActingCookie and ClearActingCookie start and end working as an installer.
	SetActingCookie   func(w http.ResponseWriter, r *http.Request, token string, expires time.Time)
	ClearActingCookie func(w http.ResponseWriter, r *http.Request)
}

// Web holds the portal's dependencies and parsed templates.
type Web struct {
	cases       *usecase.Cases
	store       *store.Store
	auth        *auth.Service
	setCookie   func(w http.ResponseWriter, r *http.Request, token string, expires time.Time)
	clearCookie func(w http.ResponseWriter, r *http.Request)
	setActing   func(w http.ResponseWriter, r *http.Request, token string, expires time.Time)
	clearActing func(w http.ResponseWriter, r *http.Request)
	pages       map[string]*template.Template
}

var funcs = template.FuncMap{
	"commandLabel": commandLabel,
	"datetime":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"ago":          func(t any) string { return ago(t, time.Now()) },
	"date": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02")
		case *time.Time:
			if v != nil {
				return v.UTC().Format("2006-01-02")
			}
		}
		return "-"
	},
	"role":  func(r model.Role) string { return r.Label() },
	"first": func(s string, n int) string { return truncateRunes(s, n) },
}

// New parses the templates: each page is the layout plus its own file.
func New(d Deps) (*Web, error) {
	w := &Web{cases: d.Cases, store: d.Store, auth: d.Auth, setCookie: d.SetCookie,
		clearCookie: d.ClearCookie, setActing: d.SetActingCookie, clearActing: d.ClearActingCookie, pages: map[string]*template.Template{}}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" || strings.HasPrefix(name, "partial_") {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partial_*.html", f)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		w.pages[name] = t
	}
	return w, nil
}

// Static serves the embedded CSS and icons.
func (w *Web) Static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(rw, r)
	})
}

// Page is what every template receives.
type Page struct {
	Title   string
	Active  string         // nav key of the current module
	Account *model.Account // the account the page works as
	Real    *model.Account // while acting as an installer: who really is signed in
	CSRF    string
	Nav     []NavItem
	Notice  string
	Error   string
	Fields  map[string]string
	Data    any
}

func (w *Web) page(r *http.Request, title, active string, data any) *Page {
	p := &Page{Title: title, Active: active, Data: data, Notice: r.URL.Query().Get("notice")}
	if id := auth.IdentityFrom(r.Context()); id != nil {
		p.Account = id.Effective()
		if id.ActingAs != nil {
			p.Real = id.Account
		}
		if id.Session != nil {
			p.CSRF = id.Session.CSRFToken
		}
		p.Nav = navFor(p.Account)
	}
	return p
}

// render writes a page, buffering it so a template error is a clean 500.
func (w *Web) render(rw http.ResponseWriter, status int, name string, p *Page) error {
	t, ok := w.pages[name]
	if !ok {
		return fmt.Errorf("no template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return err
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	_, err := buf.WriteTo(rw)
	return err
}

// RenderError shows an error page.
func (w *Web) RenderError(rw http.ResponseWriter, r *http.Request, status int, msg string) {
	p := w.page(r, http.StatusText(status), "", map[string]any{"Status": status, "Message": msg})
	if err := w.render(rw, status, "error", p); err != nil {
		slog.Error("render error page", "err", err)
		http.Error(rw, msg, status)
	}
}

func redirect(rw http.ResponseWriter, r *http.Request, path, notice string) error {
	if notice != "" {
		path += "?notice=" + url.QueryEscape(notice)
	}
	http.Redirect(rw, r, path, http.StatusSeeOther)
	return nil
}

func identity(r *http.Request) *auth.Identity { return auth.IdentityFrom(r.Context()) }

func truncateRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// Pager links the pages of a list, keeping its filters.
type Pager struct {
	Page, Pages, Total, PerPage int
	Prev, Next                  string
	First, Last                 int
}

func newPager(r *http.Request, page, perPage, total int) Pager {
	pages := max(1, (total+perPage-1)/perPage)
	p := Pager{Page: page, Pages: pages, Total: total, PerPage: perPage}
	if total > 0 {
		p.First = (page-1)*perPage + 1
		p.Last = min(page*perPage, total)
	}
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		q.Del("notice")
		return "?" + q.Encode()
	}
	if page > 1 {
		p.Prev = link(page - 1)
	}
	if page < pages {
		p.Next = link(page + 1)
	}
	return p
}

// exportURL is the API's CSV export of the list the page shows.
func exportURL(r *http.Request, apiPath string) string {
	q := r.URL.Query()
	q.Del("page")
	q.Del("per_page")
	q.Del("notice")
	q.Set("format", "csv")
	return apiPath + "?" + q.Encode()
}

// systemCtx reads as the system: for the few reads above the actor's own
// subtree that a page needs (an installer's parent name).
func systemCtx(r *http.Request) context.Context { return model.WithActor(r.Context(), model.System) }

func urlEscape(s string) string { return url.QueryEscape(s) }

// ago says how long ago t was, roughly ("just now", "5 min ago", "3 h ago",
// "12 days ago"), for a label such as a device's last-seen time; "" for no time.
func ago(t any, now time.Time) string {
	var at time.Time
	switch v := t.(type) {
	case time.Time:
		at = v
	case *time.Time:
		if v == nil {
			return ""
		}
		at = *v
	default:
		return ""
	}
	if at.IsZero() {
		return ""
	}
	d := now.Sub(at)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
	}
}
