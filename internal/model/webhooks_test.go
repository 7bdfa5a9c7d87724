package model

import (
	"strings"
	"testing"
)

// TestWebhookInputNamesTheBadField: each bad URL or event list is refused
// naming its field; wildcards expand.
func TestWebhookInputNamesTheBadField(t *testing.T) {
	for _, c := range []struct {
		url    string
		events []string
		field  string
	}{
		{"", []string{"device.online"}, "url"},
		{"http://hooks.example.com/x", []string{"device.online"}, "url"},
		{"ftp://hooks.example.com/x", []string{"device.online"}, "url"},
		{"https://user:pw@hooks.example.com/x", []string{"device.online"}, "url"},
		{"https://hooks.example.com/x#frag", []string{"device.online"}, "url"},
		{"https:///nohost", []string{"device.online"}, "url"},
		{"https://hooks.example.com:99999/x", []string{"device.online"}, "url"},
		{"https://hooks.example.com/" + strings.Repeat("a", 2100), []string{"device.online"}, "url"},
		{"https://127.0.0.1/x", []string{"device.online"}, "url"},
		{"https://10.1.2.3/x", []string{"device.online"}, "url"},
		{"https://[::1]/x", []string{"device.online"}, "url"},
		{"https://[fd00::1]/x", []string{"device.online"}, "url"},
		{"https://169.254.169.254/latest", []string{"device.online"}, "url"},
		{"https://100.64.1.1/x", []string{"device.online"}, "url"},
		{"https://localhost/x", []string{"device.online"}, "url"},
		{"https://hooks.example.com/x", nil, "events"},
		{"https://hooks.example.com/x", []string{"device.exploded"}, "events"},
		{"https://hooks.example.com/x", []string{"nope.*"}, "events"},
	} {
		in := WebhookEndpointInput{URL: c.url, Events: c.events}
		_, err := in.Normalize(false)
		if ErrorCode(err) != EINVALID || ErrorFields(err)[c.field] == "" {
			t.Errorf("%.60q %v: %v, want the field %s named", c.url, c.events, err, c.field)
		}
	}
	in := WebhookEndpointInput{URL: " https://hooks.example.com/x ", Events: []string{"rollout.*", "device.online", "device.online"}}
	mask, err := in.Normalize(false)
	if err != nil || in.URL != "https://hooks.example.com/x" || len(in.Events) != 6 || in.Events[0] != "device.online" {
		t.Fatalf("%+v %v", in, err)
	}
	if mask != WebhookEventBit("device.online")|WebhookEventBit("rollout.started")|WebhookEventBit("rollout.paused")|
		WebhookEventBit("rollout.resumed")|WebhookEventBit("rollout.completed")|WebhookEventBit("rollout.canceled") {
		t.Errorf("mask %b", mask)
	}
	all := WebhookEndpointInput{URL: "https://127.0.0.1:8443/x", Events: []string{"*"}}
	if _, err := all.Normalize(true); err != nil || len(all.Events) != len(WebhookEventTypes) {
		t.Errorf("allowed private with *: %v %v", all.Events, err)
	}
}
