package billing

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
)

// pdfText is a PDF's text as pdftotext (poppler-utils) reads it.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed")
	}
	cmd := exec.Command(bin, "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

func testInvoice() *Invoice {
	return &Invoice{OrderNumber: "ORD-1", Number: "INV-000042", Issued: time.Date(2026, 12, 5, 23, 30, 0, 0, time.UTC),
		Type: TypeActivation, Installer: "inst-1", Project: "Tower", Counts: 1, Total: 123450, Currency: "USD",
		Seller: Info{Company: "Seller Ltd"}, Payer: Info{Company: "王氏家庭", ATTN: "Li Wei", Address: "1 Road"},
		Lines: []InvoiceLine{{UserName: "张伟", Item: CommunityApp, Description: CommunityApp.Label(), Months: 12, Amount: 123450}}}
}

// TestInvoiceInEnglish: the API's invoice (no locale) keeps its English
// labels, the UTC date and the amounts; a Chinese name prints in the CJK
// font rather than as empty boxes.
func TestInvoiceInEnglish(t *testing.T) {
	pdf, err := InvoicePDF(testInvoice(), nil)
	if err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, pdf)
	for _, want := range []string{"INVOICE", "Bill to", "Company/Family:", "Invoice Number: INV-000042", "Date: 2026-12-05",
		"Type: Activation", "Community app (family master)", "1,234.50 USD", "Total: 1,234.50 USD", "王氏家庭", "张伟"} {
		if !strings.Contains(text, want) {
			t.Errorf("the English invoice lacks %q:\n%s", want, text)
		}
	}
}

// TestInvoiceInChinese: a Chinese reader's invoice has its labels from the
// zh-CN catalog (drawn with the CJK font: pdftotext reads them back), the
// date in the language's format and the reader's zone.
func TestInvoiceInChinese(t *testing.T) {
	l := i18n.For("zh-CN", "Asia/Shanghai")
	pdf, err := InvoicePDF(testInvoice(), l)
	if err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, pdf)
	for _, key := range []string{"INVOICE", "Bill to", "Item", "Months", "Amount"} {
		want := l.T(key)
		if want == key {
			t.Errorf("zh-CN has no translation of %q", key)
		}
		if !strings.Contains(text, want) {
			t.Errorf("the Chinese invoice lacks %q (%s):\n%s", want, key, text)
		}
	}
	if want := l.T("Date: %s", "2026/12/6"); !strings.Contains(text, want) { // 23:30 UTC is the next day in Shanghai
		t.Errorf("the Chinese invoice lacks %q:\n%s", want, text)
	}
	if !strings.Contains(text, "1,234.50 USD") {
		t.Errorf("the Chinese invoice's amount:\n%s", text)
	}
}
