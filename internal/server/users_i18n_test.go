package server_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestUsersPagesInEveryLanguage opens the User module (a sub-distributor's)
// and the installer's portal in each language: every page answers, is
// written in the reader's language, and no message lost its arguments
// (a catalog entry whose verbs do not fit them prints "%!").
func TestUsersPagesInEveryLanguage(t *testing.T) {
	e := newEnv(t, "sqlite")
	sub := e.browserLogin("demo-subdistributor")
	inst := e.browserLogin("demo-installer")
	first := func(b *browser, page string, re *regexp.Regexp) string {
		t.Helper()
		m := re.FindStringSubmatch(string(e.do(b.c, "GET", page, nil).body))
		if m == nil {
			t.Fatalf("%s links to nothing like %s", page, re)
		}
		return m[0]
	}
	installer := first(sub, "/users/installers", regexp.MustCompile(`/users/installers/\d+`))
	endUser := first(sub, "/users/community", regexp.MustCompile(`/users/end-users/\d+`))
	project := first(inst, "/installer/projects?kind=community", regexp.MustCompile(`/installer/projects/\d+`))
	apartment := first(inst, project, regexp.MustCompile(`/installer/apartments/\d+`))
	user := first(inst, project, regexp.MustCompile(`/installer/users/\d+`))
	device := first(inst, "/installer/devices", regexp.MustCompile(`/installer/devices/[0-9A-F]{12}`))
	pages := map[*browser][]string{
		sub: {"/users/installers", "/users/installers/new", installer, installer + "/delete", "/users/villa", "/users/community",
			"/users/office", endUser},
		inst: {"/installer/projects", project, project + "/delete", apartment, "/installer/users", "/installer/users?kind=villa", user,
			user + "/delete", "/installer/devices", "/installer/devices/new", device, device + "/delete", "/installer/cameras/new",
			"/installer/settings"},
	}
	// Words of each language's pages: each page holds one at least.
	words := map[string][]string{
		"zh-CN": {"安装商", "项目", "名称", "保存", "删除"}, "es": {"Instalador", "Proyecto", "Nombre", "Guardar", "Eliminar"},
		"de": {"Installateur", "Projekt", "Name", "Speichern", "löschen"}, "fr": {"Installateur", "Projet", "Nom", "Enregistrer", "Supprimer"},
		"ru": {"Монтажник", "Проект", "Имя", "Сохранить", "Удалить"},
	}
	speaks := func(body, lang string) bool {
		for _, w := range words[lang] {
			if strings.Contains(body, w) {
				return strings.Contains(body, `<html lang="`+lang+`">`)
			}
		}
		return false
	}
	for _, lang := range []string{"zh-CN", "es", "de", "fr", "ru"} {
		for _, b := range []*browser{sub, inst} {
			if r := e.form(b.c, "/account/language", url.Values{"csrf_token": {b.csrf}, "lang": {lang}}); r.StatusCode != 303 {
				t.Fatalf("%s: switch: %d", lang, r.StatusCode)
			}
			for _, p := range pages[b] {
				r := e.do(b.c, "GET", p, nil)
				body := string(r.body)
				switch {
				case r.StatusCode != 200:
					t.Errorf("%s %s: %d", lang, p, r.StatusCode)
				case !speaks(body, lang):
					t.Errorf("%s %s: not in the reader's language", lang, p)
				case strings.Contains(body, "%!"):
					t.Errorf("%s %s: a message lost its arguments: %s", lang, p, grepLine(body, "%!"))
				}
			}
		}
	}
}
