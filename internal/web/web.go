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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
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
	names       []string // the pages
	mu          sync.Mutex
	pages       map[pageKey]*template.Template
}

// funcsFor are the template functions of a locale: text through its
// catalog, dates, times and money in its language, format and time zone.
func funcsFor(l *i18n.Locale) template.FuncMap {
	m := template.FuncMap{
		"t":            l.T,
		"tn":           l.T, // a plural message: its form chosen by the first argument
		"commandLabel": func(c *model.DeviceCommand) string { return l.T(commandLabel(c)) },
		"datetime":     l.DateTime,
		"date":         l.Date,
		"ago":          func(t any) string { return l.Ago(t, time.Now()) },
		"money":        l.Money,
		"num":          l.Number,
		"role":         func(r model.Role) string { return l.T(r.Label()) },
		"first":        func(s string, n int) string { return truncateRunes(s, n) },
		"languages":    func() []i18n.Language { return i18n.Languages },
		"languageName": i18n.Name,
	}
	for k, f := range staticFuncs {
		m[k] = f
	}
	for k, f := range localeFuncs {
		m[k] = f(l)
	}
	return m
}

// staticFuncs are template functions the same in every language; the
// module files add their own.
var staticFuncs = template.FuncMap{}

// localeFuncs build the template functions that write in a locale (a
// module's status labels through the catalog); the module files add them.
var localeFuncs = map[string]func(l *i18n.Locale) any{}

// pageKey names one page parsed for one locale.
type pageKey struct{ name, lang, zone string }

// maxParsedPages bounds the parsed pages kept: one per page, language and
// time zone in use. Past it the cache starts over.
const maxParsedPages = 2048

// New checks the catalogs and parses every page once (in English, UTC) so
// that a broken template stops the server at start.
func New(d Deps) (*Web, error) {
	if err := i18n.Check(); err != nil {
		return nil, err
	}
	w := &Web{cases: d.Cases, store: d.Store, auth: d.Auth, setCookie: d.SetCookie,
		clearCookie: d.ClearCookie, setActing: d.SetActingCookie, clearActing: d.ClearActingCookie, pages: map[pageKey]*template.Template{}}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	en := i18n.For("en", "UTC")
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" || strings.HasPrefix(name, "partial_") {
			continue
		}
		w.names = append(w.names, name)
		if _, err := w.template(name, en); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// template returns a page parsed with the functions of a locale, parsing
// it on first use: each page is the layout, the partials and its own file.
func (w *Web) template(name string, l *i18n.Locale) (*template.Template, error) {
	k := pageKey{name, l.Tag, l.Zone.String()}
	w.mu.Lock()
	t, ok := w.pages[k]
	w.mu.Unlock()
	if ok {
		return t, nil
	}
	if !slices.Contains(w.names, name) {
		return nil, fmt.Errorf("no template %q", name)
	}
	t, err := template.New(name).Funcs(funcsFor(l)).ParseFS(templateFS, "templates/layout.html", "templates/partial_*.html", "templates/"+name+".html")
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	w.mu.Lock()
	if len(w.pages) >= maxParsedPages {
		clear(w.pages)
	}
	w.pages[k] = t
	w.mu.Unlock()
	return t, nil
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
	L       *i18n.Locale // the reader's language and time zone
	Here    string       // where the language switcher comes back to
}

func (w *Web) page(r *http.Request, title, active string, data any) *Page {
	p := &Page{Title: title, Active: active, Data: data, Notice: r.URL.Query().Get("notice"), L: locale(r)}
	p.Here = here(r)
	if id := auth.IdentityFrom(r.Context()); id != nil {
		p.Account = id.Effective()
		if id.ActingAs != nil {
			p.Real = id.Account
		}
		if id.Session != nil {
			p.CSRF = id.Session.CSRFToken
		}
		p.Nav = navFor(p.Account)
		for i := range p.Nav {
			p.Nav[i].Title = p.L.T(p.Nav[i].Title)
		}
	}
	return p
}

// render writes a page, buffering it so a template error is a clean 500.
func (w *Web) render(rw http.ResponseWriter, status int, name string, p *Page) error {
	if p.L == nil {
		p.L = i18n.For("en", "UTC")
	}
	t, err := w.template(name, p.L)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return err
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	_, err = buf.WriteTo(rw)
	return err
}

// here is where the language switcher comes back to: the page's path and
// its own filters, without a notice or a link elsewhere (next, back) that
// the page must not repeat; the home page after a form's POST.
func here(r *http.Request) string {
	if r.Method != http.MethodGet {
		return "/"
	}
	q := r.URL.Query()
	q.Del("notice")
	for _, k := range []string{"next", "back"} { // kept only when they stay on this site (the sign-in page's next)
		if v := q.Get(k); v != "" && safeNext(v) != v {
			q.Del(k)
		}
	}
	if len(q) == 0 {
		return r.URL.EscapedPath()
	}
	return r.URL.EscapedPath() + "?" + q.Encode()
}

// statusTitles are the error pages' titles.
var statusTitles = map[int]string{
	http.StatusBadRequest: i18n.N("Bad Request"), http.StatusUnauthorized: i18n.N("Unauthorized"),
	http.StatusForbidden: i18n.N("Forbidden"), http.StatusNotFound: i18n.N("Not Found"),
	http.StatusMethodNotAllowed: i18n.N("Method Not Allowed"), http.StatusConflict: i18n.N("Conflict"),
	http.StatusRequestEntityTooLarge: i18n.N("Request Entity Too Large"), http.StatusTooManyRequests: i18n.N("Too Many Requests"),
	http.StatusInternalServerError: i18n.N("Internal Server Error"), http.StatusServiceUnavailable: i18n.N("Service Unavailable"),
}

// RenderError shows an error page: err's message in the reader's language
// (msg, the English one, for an error that is not a domain error).
func (w *Web) RenderError(rw http.ResponseWriter, r *http.Request, status int, err error, msg string) {
	p := w.page(r, http.StatusText(status), "", nil)
	if t, ok := statusTitles[status]; ok {
		p.Title = p.L.T(t)
	}
	p.Data = map[string]any{"Status": status, "Message": localized(p.L, err, msg)}
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
