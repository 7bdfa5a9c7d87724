package paypaltest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal/paypaltest"
)

type answer struct {
	status int
	body   map[string]any
}

func (a answer) issue() string {
	d, _ := a.body["details"].([]any)
	if len(d) == 0 {
		return ""
	}
	return d[0].(map[string]any)["issue"].(string)
}

func call(t *testing.T, method, u, auth, ctype, body string) answer {
	t.Helper()
	r, _ := http.NewRequest(method, u, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return answer{resp.StatusCode, m}
}

// TestFakeFollowsPublishedErrors checks the fake answers errors the way
// PayPal documents them, straight over HTTP.
func TestFakeFollowsPublishedErrors(t *testing.T) {
	pp := paypaltest.New(t)
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	r, _ := http.NewRequest("POST", pp.URL+"/v1/oauth2/token", strings.NewReader(form))
	r.SetBasicAuth(paypaltest.ClientID, "bad")
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ := http.DefaultClient.Do(r)
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != 401 || m["error"] != "invalid_client" {
		t.Fatalf("bad secret: %d %v", resp.StatusCode, m)
	}
	r, _ = http.NewRequest("POST", pp.URL+"/v1/oauth2/token", strings.NewReader(form))
	r.SetBasicAuth(paypaltest.ClientID, paypaltest.Secret)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ = http.DefaultClient.Do(r)
	m = nil
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	tok, _ := m["access_token"].(string)
	if resp.StatusCode != 200 || tok == "" || m["token_type"] != "Bearer" || m["expires_in"].(float64) != 32400 {
		t.Fatalf("token: %d %v", resp.StatusCode, m)
	}
	bearer := "Bearer " + tok
	const js = "application/json"
	orders := pp.URL + "/v2/checkout/orders"

	if a := call(t, "POST", orders, "Bearer nope", js, `{}`); a.status != 401 || a.body["name"] != "AUTHENTICATION_FAILURE" {
		t.Errorf("bad token: %+v", a)
	}
	for body, want := range map[string]struct {
		status int
		issue  string
	}{
		`{"purchase_units":[{"amount":{"currency_code":"USD","value":"1.00"}}]}`:                      {400, "MISSING_REQUIRED_PARAMETER"},
		`{"intent":"CAPTURE","purchase_units":[]}`:                                                    {400, "MISSING_REQUIRED_PARAMETER"},
		`{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD"}}]}`:                  {400, "MISSING_REQUIRED_PARAMETER"},
		`{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD","value":"1,00"}}]}`:   {400, "INVALID_PARAMETER_SYNTAX"},
		`{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"JPY","value":"500.00"}}]}`: {422, "DECIMAL_PRECISION"},
		`{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD","value":"1.005"}}]}`:  {422, "DECIMAL_PRECISION"},
		`{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"XYZ","value":"1.00"}}]}`:   {422, "CURRENCY_NOT_SUPPORTED"},
		`{"intent":"CAPTURE","purchase_units":[{"amount":{"currency_code":"USD","value":"0.00"}}]}`:   {422, "CANNOT_BE_ZERO_OR_NEGATIVE"},
		`{"intent":`: {400, "MALFORMED_REQUEST_JSON"},
	} {
		a := call(t, "POST", orders, bearer, js, body)
		if a.status != want.status || a.issue() != want.issue {
			t.Errorf("%s → %d %s, want %d %s", body, a.status, a.issue(), want.status, want.issue)
		}
	}
	a := call(t, "POST", orders, bearer, js, `{"intent":"CAPTURE","purchase_units":[{"custom_id":"A1","amount":{"currency_code":"USD","value":"9.99"}}],
		"application_context":{"return_url":"https://r","cancel_url":"https://c"}}`)
	id, _ := a.body["id"].(string)
	if a.status != 201 || a.body["status"] != "CREATED" || id == "" {
		t.Fatalf("create: %+v", a)
	}
	if !strings.Contains(mustJSON(a.body["links"]), `"rel":"approve"`) {
		t.Errorf("no approve link: %v", a.body["links"])
	}
	capture := orders + "/" + id + "/capture"
	if a := call(t, "POST", capture, bearer, js, ``); a.status != 422 || a.issue() != "ORDER_NOT_APPROVED" {
		t.Errorf("unapproved capture: %+v", a)
	}
	if err := pp.Approve(id); err != nil {
		t.Fatal(err)
	}
	if a := call(t, "POST", capture, bearer, js, ``); a.status != 201 || a.body["status"] != "COMPLETED" {
		t.Errorf("capture: %+v", a)
	}
	if a := call(t, "POST", capture, bearer, js, ``); a.status != 422 || a.issue() != "ORDER_ALREADY_CAPTURED" {
		t.Errorf("second capture: %+v", a)
	}
	if a := call(t, "POST", orders+"/NOPE/capture", bearer, js, ``); a.status != 404 || a.body["name"] != "RESOURCE_NOT_FOUND" || a.issue() != "INVALID_RESOURCE_ID" {
		t.Errorf("unknown order: %+v", a)
	}
	verify := pp.URL + "/v1/notifications/verify-webhook-signature"
	if a := call(t, "POST", verify, bearer, js, `{"webhook_id":"x"}`); a.status != 400 || a.body["name"] != "VALIDATION_ERROR" {
		t.Errorf("verify without fields: %+v", a)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
