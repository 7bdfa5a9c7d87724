package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestUsersPagesSpeakTheReadersLanguage renders the project delete page in
// every language: its sentences and its counts' plural forms (Russian 21 is
// "one", French 0 is "one") come from the catalogs.
func TestUsersPagesSpeakTheReadersLanguage(t *testing.T) {
	w, err := New(Deps{})
	if err != nil {
		t.Fatal(err)
	}
	data := ipProjectDeleteData{Project: &model.Project{ID: 7, Kind: model.ProjectCommunity, Name: "Elm Court"},
		Contents: &store.ProjectContents{Buildings: 1, Apartments: 3, EndUsers: 5, Devices: 21, Cameras: 0}}
	for lang, wants := range map[string][]string{
		"en":    {"Deleting Community Elm Court also deletes:", "<li>1 building</li>", "<li>3 apartments</li>", "<li>5 end users</li>", "<li>0 third-party cameras</li>", "Delete project"},
		"de":    {"Das Löschen der Wohnanlage Elm Court löscht auch:", "<li>1 Gebäude</li>", "<li>3 Wohnungen</li>", "<li>5 Endbenutzer</li>", "Projekt löschen"},
		"ru":    {"<li>3 квартиры</li>", "<li>5 конечных пользователей</li>", "<li>21 устройство (его MAC можно будет добавить снова)</li>", "Удалить проект"},
		"fr":    {"<li>0 caméra tierce</li>", "<li>3 appartements</li>", "Supprimer le projet"},
		"es":    {"<li>1 edificio</li>", "<li>5 usuarios finales</li>", "Eliminar proyecto"},
		"zh-CN": {"删除社区 Elm Court 还会删除：", "<li>3 个住户</li>", "删除项目"},
	} {
		rec := httptest.NewRecorder()
		p := &Page{Title: "x", L: i18n.For(lang, "UTC"), Data: data}
		if err := w.render(rec, 200, "installer_project_delete", p); err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		body := rec.Body.String()
		for _, want := range wants {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the page lacks %q", lang, want)
			}
		}
	}
}

// TestUsersFailKeepsTheStoresFieldMessages: a store's conflict carries its
// field message without a catalog text; the form still shows it, in the
// reader's language when the catalog holds it. A validator's message is
// translated by Page.Fail.
func TestUsersFailKeepsTheStoresFieldMessages(t *testing.T) {
	p := &Page{L: i18n.For("de", "UTC")}
	usersFail(p, &model.Error{Code: model.ECONFLICT, Message: "MAC 0C1105000001 is already registered.",
		Fields: map[string]string{"mac": "is already registered", "other": "a message no catalog holds"}})
	if p.Fields["mac"] != "ist bereits registriert" || p.Fields["other"] != "a message no catalog holds" {
		t.Errorf("conflict fields %q", p.Fields)
	}
	p = &Page{L: i18n.For("de", "UTC")}
	var v model.Validator
	v.Check(false, "project_id", "must be a positive whole number")
	usersFail(p, v.Err())
	if p.Fields["project_id"] != "muss eine positive ganze Zahl sein" || len(p.Fields) != 1 {
		t.Errorf("validator fields %q", p.Fields)
	}
}
