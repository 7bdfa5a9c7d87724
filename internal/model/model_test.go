package model

import (
	"net/url"
	"testing"
)

func TestNormalizeMAC(t *testing.T) {
	for in, want := range map[string]string{
		"0C:11:05:AA:bb:cc": "0C1105AABBCC", "0c-11-05-aa-bb-cc": "0C1105AABBCC", "0c1105aabbcc": "0C1105AABBCC",
		" 0C11.05AA.BBCC ": "0C1105AABBCC", "0C:11:05:AA:BB": "", "0C:11:05:AA:BB:CG": "", "0C1105AABBCC00": "", "": "",
	} {
		got, ok := NormalizeMAC(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeMAC(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestParsePage(t *testing.T) {
	var v Validator
	p := ParsePage(url.Values{"page": {"3"}, "per_page": {"500"}}, &v)
	if v.Err() != nil || p.Page != 3 || p.PerPage != 500 || p.Offset() != 1000 {
		t.Errorf("page 3 of 500: %+v %v", p, v.Err())
	}
	for _, q := range []url.Values{{"per_page": {"501"}}, {"per_page": {"0"}}, {"page": {"-1"}}, {"page": {"two"}}} {
		var v Validator
		ParsePage(q, &v)
		if v.Err() == nil {
			t.Errorf("%v accepted", q)
		}
	}
	var d Validator
	if p := ParsePage(url.Values{}, &d); p.Page != 1 || p.PerPage != DefaultPerPage || d.Err() != nil {
		t.Errorf("defaults: %+v", p)
	}
}

func TestInstallerValidation(t *testing.T) {
	a := &Account{Role: RoleInstaller, Username: "fitter-1", Email: "fitter@example.com", TimeZone: "Europe/Berlin"}
	a.Normalize()
	if err := a.Validate(); err != nil {
		t.Fatalf("valid installer: %v", err)
	}
	if a.Business != BusinessIntercom || a.ChargeMode != ChargeInstaller || a.ConnectType != ConnectDefault || a.RTPConfusion || a.Language != "en" {
		t.Errorf("defaults: %+v", a)
	}
	bad := &Account{Role: RoleInstaller, Username: "x", Email: "a@b@c", Phone: "call me", Business: "toys", TimeZone: "Local",
		Language: "tlh", ChargeMode: "nobody", ConnectType: "carrier-pigeon"}
	f := ErrorFields(bad.Validate())
	for _, field := range []string{"username", "email", "phone", "business", "time_zone", "language", "charge_mode", "connect_type"} {
		if f[field] == "" {
			t.Errorf("%s not reported: %v", field, f)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	if ErrorCode(nil) != "" || ErrorCode(NotFound("x")) != ENOTFOUND || ErrorMessage(errPlain{}) != "Internal error." {
		t.Error("error helpers")
	}
	if e := Invalid("mac", "is bad"); e.Message != "mac: is bad" || e.Fields["mac"] != "is bad" {
		t.Errorf("Invalid: %+v", e)
	}
}

type errPlain struct{}

func (errPlain) Error() string { return "sql: secret detail" }
