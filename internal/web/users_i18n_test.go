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

// TestPlaceFieldMovesTheMessage: the store's message about a device's
// building, apartment, department or owner shows at the form's Belongs to
// field, in the reader's language.
func TestPlaceFieldMovesTheMessage(t *testing.T) {
	var v model.Validator
	v.Check(false, "apartment_id", "must be a positive whole number")
	p := &Page{L: i18n.For("de", "UTC")}
	p.Fail(ipPlaceField(v.Err()))
	if p.Fields["place"] != "muss eine positive ganze Zahl sein" || len(p.Fields) != 1 {
		t.Errorf("fields %q", p.Fields)
	}
	if e := ipPlaceField(v.Err()); model.ErrorFields(e)["place"] != "must be a positive whole number" {
		t.Errorf("English fields %q", model.ErrorFields(e))
	}
}
