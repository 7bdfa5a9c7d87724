package billing_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	_ "github.com/gatehouse-dev/gatehouse/internal/billing/paypal"
	_ "github.com/gatehouse-dev/gatehouse/internal/billing/stripe"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var full = map[string]string{
	"GATEHOUSE_STRIPE_SECRET_KEY":     "sk_test_x",
	"GATEHOUSE_STRIPE_WEBHOOK_SECRET": "whsec_x",
	"GATEHOUSE_STRIPE_API_URL":        "http://127.0.0.1:12111",
	"GATEHOUSE_PAYPAL_CLIENT_ID":      "cid",
	"GATEHOUSE_PAYPAL_SECRET":         "sec",
	"GATEHOUSE_PAYPAL_WEBHOOK_ID":     "WH1",
}

func without(keys ...string) map[string]string {
	m := map[string]string{}
	for k, v := range full {
		m[k] = v
	}
	for _, k := range keys {
		delete(m, k)
	}
	return m
}

func TestProvidersFromEnv(t *testing.T) {
	ps, err := billing.ProvidersFromEnv(env(full))
	if err != nil || len(ps) != 2 || ps["stripe"] == nil || ps["paypal"] == nil ||
		ps["stripe"].Name() != "stripe" || ps["paypal"].Name() != "paypal" {
		t.Fatalf("full: %v, %v", ps, err)
	}
	ps, err = billing.ProvidersFromEnv(env(nil))
	if err != nil || len(ps) != 0 {
		t.Fatalf("empty: %v, %v", ps, err)
	}
	ps, err = billing.ProvidersFromEnv(env(without("GATEHOUSE_PAYPAL_CLIENT_ID", "GATEHOUSE_PAYPAL_SECRET", "GATEHOUSE_PAYPAL_WEBHOOK_ID")))
	if err != nil || len(ps) != 1 || ps["stripe"] == nil {
		t.Fatalf("stripe only: %v, %v", ps, err)
	}
	ps, err = billing.ProvidersFromEnv(env(without("GATEHOUSE_STRIPE_SECRET_KEY", "GATEHOUSE_STRIPE_WEBHOOK_SECRET", "GATEHOUSE_STRIPE_API_URL")))
	if err != nil || len(ps) != 1 || ps["paypal"] == nil {
		t.Fatalf("paypal only: %v, %v", ps, err)
	}
	// Partial configurations name what is missing.
	for missing, m := range map[string]map[string]string{
		"GATEHOUSE_STRIPE_WEBHOOK_SECRET": without("GATEHOUSE_STRIPE_WEBHOOK_SECRET"),
		"GATEHOUSE_STRIPE_SECRET_KEY":     without("GATEHOUSE_STRIPE_SECRET_KEY"),
		"GATEHOUSE_PAYPAL_WEBHOOK_ID":     without("GATEHOUSE_PAYPAL_WEBHOOK_ID"),
		"GATEHOUSE_PAYPAL_SECRET":         {"GATEHOUSE_PAYPAL_CLIENT_ID": "c", "GATEHOUSE_PAYPAL_WEBHOOK_ID": "w", "GATEHOUSE_PAYPAL_SECRET": "  "},
		"GATEHOUSE_PAYPAL_CLIENT_ID":      {"GATEHOUSE_PAYPAL_API_URL": "https://api-m.paypal.com"},
	} {
		ps, err := billing.ProvidersFromEnv(env(m))
		if err == nil || !strings.Contains(err.Error(), missing) || ps != nil {
			t.Errorf("missing %s: %v, %v", missing, ps, err)
		}
	}
	// A bad value is an error too, not a silently missing provider.
	bad := without()
	bad["GATEHOUSE_PAYPAL_API_URL"] = "not a url"
	if _, err := billing.ProvidersFromEnv(env(bad)); err == nil || !strings.Contains(err.Error(), "paypal") {
		t.Errorf("bad paypal url: %v", err)
	}
}
