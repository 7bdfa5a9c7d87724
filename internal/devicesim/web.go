package devicesim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The device's web UI login (a simulator has no way to change it).
const (
	webUser     = "admin"
	webPassword = "admin"
	webCookie   = "devicesim_session"
)

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#f6f7f9}
main{max-width:760px;background:#fff;border:1px solid #ccd;border-radius:6px;padding:1.2em 1.6em}
h1{font-size:1.3em;margin:0 0 .8em} table{border-collapse:collapse;width:100%;margin:.6em 0}
th,td{text-align:left;border-bottom:1px solid #e3e5ea;padding:.3em .6em;font-family:ui-monospace,monospace;font-size:.95em}
th{background:#eef0f4;font-family:system-ui,sans-serif} .on{color:#176c2f;font-weight:600} .off{color:#a12;font-weight:600}
label{display:block;margin:.5em 0} input{font:inherit;padding:.3em} .error{color:#a12} .hint{color:#667;font-size:.85em}
nav a{margin-right:1em}
</style></head><body><main>{{end}}
{{define "foot"}}</main></body></html>{{end}}

{{define "login"}}{{template "head" .}}
<h1>{{.Model}} web interface</h1>
<p>Device <b>{{.MAC}}</b></p>
{{if .Error}}<p class="error" id="login-error">{{.Error}}</p>{{end}}
{{if .LoggedIn}}<p>You are logged in. <a href="status">Status</a> · <a href="logout">Log out</a></p>{{end}}
<form method="post" action="login">
<label>User name <input name="user" autocomplete="username" value="{{.User}}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Log in</button>
</form>
<p class="hint">Gatehouse device simulator — default login admin / admin.</p>
{{template "foot"}}{{end}}

{{define "status"}}{{template "head" .}}
<nav><a href="status">Status</a><a href="logout">Log out</a></nav>
<h1>{{.Model}} status</h1>
<table id="device">
<tr><th>MAC</th><td id="mac">{{.MAC}}</td></tr>
<tr><th>Model</th><td>{{.Model}}</td></tr>
<tr><th>Firmware</th><td>{{.Firmware}}</td></tr>
<tr><th>IP address</th><td>{{.IP}}</td></tr>
<tr><th>Cloud</th><td id="online">{{if .Online}}<span class="on">online</span>{{else}}<span class="off">offline</span>{{end}}</td></tr>
<tr><th>Boots</th><td id="boots">{{.Boots}}</td></tr>
<tr><th>Uptime</th><td>{{.Uptime}}</td></tr>
<tr><th>Config version</th><td id="config-version">{{.Version}}</td></tr>
</table>
<h1>Configuration</h1>
<table id="config">
<tr><th>Key</th><th>Value</th></tr>
{{range .Config}}<tr><td>{{.Key}}</td><td>{{.Value}}</td></tr>
{{else}}<tr><td colspan="2">No configuration applied (factory defaults).</td></tr>
{{end}}</table>
{{template "foot"}}{{end}}

{{define "fleet"}}{{template "head" .}}
<h1>Gatehouse device simulator</h1>
<p><span id="online-count">{{.Online}}</span> of {{.Total}} devices online.</p>
<table id="devices">
<tr><th>MAC</th><th>Cloud</th><th>Boots</th><th>Config version</th></tr>
{{range .Devices}}<tr><td><a href="{{.MAC}}/">{{.MAC}}</a></td><td>{{if .Online}}<span class="on">online</span>{{else}}<span class="off">offline</span>{{end}}</td><td>{{.Boots}}</td><td>{{.Version}}</td></tr>
{{end}}</table>
<p>{{if .Prev}}<a href="?page={{.Prev}}">← previous</a>{{end}} page {{.Page}} of {{.Pages}} {{if .Next}}<a href="?page={{.Next}}">next →</a>{{end}}</p>
{{template "foot"}}{{end}}
`))

// deviceView is what the device's pages show.
type deviceView struct {
	Title, MAC, Model, Firmware, IP, Version, Uptime, Error, User string
	Online, LoggedIn                                              bool
	Boots                                                         int
	Config                                                        []Setting
}

func (d *Device) view(title string) deviceView {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := deviceView{Title: title, MAC: d.mac, Model: d.f.cfg.Model, Firmware: d.firmwareLocked(), IP: d.ip,
		Version: d.version, Online: d.online, Boots: d.boots,
		Uptime: time.Since(d.bootedAt).Round(time.Second).String()}
	for _, k := range sortedKeys(d.config) {
		v.Config = append(v.Config, Setting{k, d.config[k]})
	}
	return v
}

// Handler is the device's own web UI (login page and a status page showing
// its current config), served over Remote Control tunnels and by the fleet.
// Links and redirects are relative, so it works under any prefix.
func (d *Device) Handler() http.Handler { return http.HandlerFunc(d.serveWeb) }

func (d *Device) serveWeb(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "/", "/login", "/index.html":
		if r.Method == http.MethodPost {
			d.login(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		v := d.view(d.mac + " login")
		v.LoggedIn = d.loggedIn(r)
		render(w, http.StatusOK, "login", v)
	case "/status":
		if !d.loggedIn(r) {
			relativeRedirect(w, "./")
			return
		}
		render(w, http.StatusOK, "status", d.view(d.mac+" status"))
	case "/status.json":
		if !d.loggedIn(r) {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		v := d.view("")
		w.Header().Set("Content-Type", "application/json")
		cfg := map[string]string{}
		for _, s := range v.Config {
			cfg[s.Key] = s.Value
		}
		json.NewEncoder(w).Encode(map[string]any{"mac": v.MAC, "model": v.Model, "firmware": v.Firmware, "ip": v.IP,
			"online": v.Online, "boots": v.Boots, "config_version": v.Version, "config": cfg})
	case "/logout":
		http.SetCookie(w, &http.Cookie{Name: webCookie, Value: "", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		relativeRedirect(w, "./")
	default:
		http.NotFound(w, r)
	}
}

func (d *Device) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	user, pw := r.PostFormValue("user"), r.PostFormValue("password")
	if subtle.ConstantTimeCompare([]byte(user), []byte(webUser)) != 1 || subtle.ConstantTimeCompare([]byte(pw), []byte(webPassword)) != 1 {
		v := d.view(d.mac + " login")
		v.Error, v.User = "Wrong user name or password.", user
		render(w, http.StatusUnauthorized, "login", v)
		return
	}
	d.mu.Lock()
	if d.webToken == "" {
		var b [16]byte
		rand.Read(b[:])
		d.webToken = hex.EncodeToString(b[:])
	}
	tok := d.webToken
	d.mu.Unlock()
	// No Path: the cookie's path is the directory the device is served
	// under (/remote/{token}/ through the cloud, /{MAC}/ on the fleet page).
	http.SetCookie(w, &http.Cookie{Name: webCookie, Value: tok, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	relativeRedirect(w, "status")
}

func (d *Device) loggedIn(r *http.Request) bool {
	c, err := r.Cookie(webCookie)
	if err != nil || c.Value == "" {
		return false
	}
	d.mu.Lock()
	tok := d.webToken
	d.mu.Unlock()
	return tok != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(tok)) == 1
}

// relativeRedirect answers 303 with a relative Location, left as it is
// (http.Redirect would make it absolute, losing the cloud's prefix).
func relativeRedirect(w http.ResponseWriter, loc string) {
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

func render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		io.WriteString(w, "template error")
	}
}

// ServeHTTP is the fleet's own web page: a list of devices linking to each
// device's web UI under /{MAC}/.
func (f *Fleet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	if p == "" {
		f.serveList(w, r)
		return
	}
	first, rest, slash := strings.Cut(p, "/")
	d := f.Device(first)
	if d == nil {
		http.NotFound(w, r)
		return
	}
	if !slash {
		relativeRedirect(w, first+"/")
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + rest
	r2.URL.RawPath = ""
	d.Handler().ServeHTTP(w, r2)
}

const fleetPageSize = 200

func (f *Fleet) serveList(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pages := (len(f.devices) + fleetPageSize - 1) / fleetPageSize
	if pages == 0 {
		pages = 1
	}
	page = max(1, min(page, pages))
	type row struct {
		MAC, Version string
		Online       bool
		Boots        int
	}
	data := struct {
		Title                            string
		Online, Total, Page, Pages, Prev int
		Next                             int
		Devices                          []row
	}{Title: "Device simulator", Online: f.Online(), Total: len(f.devices), Page: page, Pages: pages}
	if page > 1 {
		data.Prev = page - 1
	}
	if page < pages {
		data.Next = page + 1
	}
	lo := (page - 1) * fleetPageSize
	hi := min(lo+fleetPageSize, len(f.devices))
	for _, d := range f.devices[lo:hi] {
		d.mu.Lock()
		data.Devices = append(data.Devices, row{d.mac, d.version, d.online, d.boots})
		d.mu.Unlock()
	}
	render(w, http.StatusOK, "fleet", data)
}

// acceptTunnels serves the streams the server opens (protocol §6) until the
// session ends.
func (l *link) acceptTunnels() {
	for {
		st, err := l.sess.AcceptStream()
		if err != nil {
			return
		}
		if l.tunnels.Add(1) > maxTunnels {
			l.tunnels.Add(-1)
			st.Close()
			continue
		}
		go func() {
			defer l.tunnels.Add(-1)
			l.d.ServeTunnel(st)
		}()
	}
}

// tunnelHeader is the first line of a server-opened stream.
type tunnelHeader struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Service string `json:"service"`
}

var discardLog = log.New(io.Discard, "", 0)

// ServeTunnel serves one Remote Control stream: it reads the tunnel header
// line, then HTTP/1.1 requests to the device's web UI until either side
// closes. A stream whose header is not {"type":"tunnel","service":"http"} is
// closed at once. It returns when the stream is done.
func (d *Device) ServeTunnel(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	// Byte by byte, so nothing after the header line is consumed here.
	var line []byte
	var b [1]byte
	for {
		if _, err := c.Read(b[:]); err != nil || len(line) >= 4096 {
			c.Close()
			return
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	var h tunnelHeader
	if err := json.Unmarshal(line, &h); err == nil && h.Type == "diagnose" {
		d.serveDiagnose(c, line)
		return
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Type != "tunnel" || h.Service != "http" {
		c.Close()
		return
	}
	d.logf("gatehoused[412]", "remote control tunnel %s opened", h.ID)
	c.SetReadDeadline(time.Time{})
	ln := &oneConnListener{c: &doneConn{Conn: c, done: make(chan struct{})}}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: discardLog}
	srv.Serve(ln)
	<-ln.c.done
}

// oneConnListener hands http.Server one connection, then reports closed.
type oneConnListener struct {
	c    *doneConn
	once sync.Once
}

var errListenerDone = errors.New("devicesim: tunnel listener done")

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c == nil {
		return nil, errListenerDone
	}
	return c, nil
}
func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }

// doneConn tells when the HTTP server closed it.
type doneConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (c *doneConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}
