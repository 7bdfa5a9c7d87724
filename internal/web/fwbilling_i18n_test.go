package web

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// TestBillingLabelsAreInTheCatalogs: the labels of internal/billing the
// pages translate ({{t .Status.Label}}) are keys of the catalogs (marked in
// billing_pages.go); a label changed there without its marker fails here.
func TestBillingLabelsAreInTheCatalogs(t *testing.T) {
	var labels []string
	for _, it := range billing.Items {
		labels = append(labels, it.Label())
	}
	for _, ty := range billing.OrderTypes {
		labels = append(labels, ty.Label())
	}
	for _, s := range billing.Statuses {
		labels = append(labels, s.Label())
	}
	for _, l := range labels {
		if !i18n.Has(l) {
			t.Errorf("billing label %q is not in the catalogs: mark it in billing_pages.go", l)
		}
	}
	for s, k := range couponStates {
		if !i18n.Has(k) {
			t.Errorf("coupon state %s: %q is not in the catalogs", s, k)
		}
	}
}

// TestBillingReasonsAreInTheCatalogs: every reason billing gives why an
// account may not pay (or not with coupons) is one the pages translate.
func TestBillingReasonsAreInTheCatalogs(t *testing.T) {
	var reasons []string
	for _, role := range []model.Role{model.RoleAdmin, model.RoleDistributor, model.RoleSubdistributor, model.RoleInstaller, "other"} {
		for _, dp := range []bool{false, true} {
			for _, mode := range []string{model.ChargeInstaller, model.ChargeEndUser, model.ChargeDistributor} {
				if ok, why := billing.MayPay(role, 7, dp, mode); !ok {
					reasons = append(reasons, why)
				}
			}
		}
		if ok, why := billing.MayUseCoupons(role, 7); !ok {
			reasons = append(reasons, why)
		}
	}
	if len(reasons) < 5 {
		t.Fatalf("only %d reasons found: %q", len(reasons), reasons)
	}
	for _, r := range reasons {
		if !i18n.Has(r) {
			t.Errorf("reason %q is not in the catalogs: mark it with i18n.N where internal/billing writes it", r)
		}
	}
}

// TestMarkup: a message's placeholders become the elements given, the
// message and the elements' texts escaped.
func TestMarkup(t *testing.T) {
	got := string(markup("a <b> \x01 & \x02.", "<span id=\"x\">", "1 < 2", "</span>", "<strong>", "y", "</strong>"))
	if want := `a &lt;b&gt; <span id="x">1 &lt; 2</span> &amp; <strong>y</strong>.`; got != want {
		t.Errorf("markup = %q, want %q", got, want)
	}
	if got := string(markup("no placeholder")); got != "no placeholder" {
		t.Errorf("markup without parts = %q", got)
	}
}

// TestRolloutTextsTranslated: the rollout texts built in Go follow the
// reader's language and its number format (the catalogs' German).
func TestRolloutTextsTranslated(t *testing.T) {
	de := i18n.For("de", "UTC")
	if got := planText(de, []int{10, 1250, 240}, true); !strings.Contains(got, "1.250") || strings.Contains(got, "canary") {
		t.Errorf("German plan %q", got)
	}
	if got := stateLabelIn(de, model.UpgradeDownloading); got == "Downloading" || got == "" {
		t.Errorf("German downloading label %q", got)
	}
	if got := statusLabelIn(i18n.For("en", "UTC"), model.RolloutRunning); got != "Running" {
		t.Errorf("English running label %q", got)
	}
	if got := byteSizeIn(de, 1536); got != "1,5 KiB" {
		t.Errorf("German size %q", got)
	}
}
