package billing

import (
	_ "embed"
	"fmt"
	"time"
	"unicode"

	"github.com/signintech/gopdf"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
)

// DejaVu Sans (Bitstream Vera licence, DejaVu changes public domain; see fonts/LICENSE-DejaVuSans.txt).
//
//go:embed fonts/DejaVuSans.ttf
var invoiceFont []byte

// Droid Sans Fallback Full (Apache License 2.0; see
// fonts/LICENSE-DroidSansFallback.txt): the glyphs of Chinese, Japanese
// and Korean text, which DejaVu Sans lacks — a Chinese invoice's labels,
// or a name in those scripts on any invoice.
//
//go:embed fonts/DroidSansFallbackFull.ttf
var invoiceCJKFont []byte

// Invoice is the accounting record of a completed order, frozen when the
// order completed: later edits of billing information, prices or names do
// not reach it.
type Invoice struct {
	OrderNumber string        `json:"order_number"`
	Number      string        `json:"number"` // the issuer's gap-free sequence, formatted
	Seq         int64         `json:"seq"`
	IssuerID    int64         `json:"issuer_id"` // the seller: the order's distributor
	PayerID     int64         `json:"payer_id,omitempty"`
	Issued      time.Time     `json:"issued_at"`
	Type        OrderType     `json:"type"`
	Installer   string        `json:"installer"`
	Project     string        `json:"project"`
	Counts      int           `json:"counts"`
	Total       int64         `json:"total"`
	Currency    string        `json:"currency"`
	Seller      Info          `json:"seller"`
	Payer       Info          `json:"payer"`
	Lines       []InvoiceLine `json:"lines"`
}

// InvoiceLine is one frozen line of an invoice.
type InvoiceLine struct {
	UserName    string     `json:"user_name"`
	Item        Item       `json:"item"`
	Description string     `json:"description"` // the item's label when issued
	Service     string     `json:"service"`
	Months      int        `json:"months"`
	Amount      int64      `json:"amount"`
	NewExpires  *time.Time `json:"new_expires_at"`
}

// InvoiceNumber formats an issuer's invoice sequence number.
func InvoiceNumber(seq int64) string { return fmt.Sprintf("INV-%06d", seq) }

// payerLabels name the payer's billing information on the invoice,
// translated where they are printed.
var payerLabels = []string{i18n.N("Company/Family"), i18n.N("ATTN"), i18n.N("Address"), i18n.N("TEL"), i18n.N("Fax"), i18n.N("Email")}

// cjk reports whether r is drawn with the CJK font.
func cjk(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Bopomofo) ||
		(r >= 0x3000 && r <= 0x303F) || (r >= 0xFF00 && r <= 0xFFEF)
}

// textRun is a piece of a text drawn with one font.
type textRun struct {
	cjk  bool
	text string
}

// runs splits text into runs of one font: CJK or not.
func runs(text string) []textRun {
	var out []textRun
	for _, r := range text {
		c := cjk(r)
		if n := len(out); n > 0 && out[n-1].cjk == c {
			out[n-1].text += string(r)
			continue
		}
		out = append(out, textRun{c, string(r)})
	}
	return out
}

// InvoicePDF renders an invoice in the reader's language (l; English for
// nil): the seller, the payer's billing information, the invoice and order
// numbers and date, the lines and the total — all as frozen when the order
// completed. Dates are in l's zone, amounts in its number format.
func InvoicePDF(inv *Invoice, l *i18n.Locale) ([]byte, error) {
	if l == nil {
		l = i18n.For("en", "UTC")
	}
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4})
	pdf.SetInfo(gopdf.PdfInfo{Title: l.T("Invoice %s", inv.Number), Creator: "Gatehouse", CreationDate: inv.Issued})
	pdf.AddPage()
	if err := pdf.AddTTFFontData("sans", invoiceFont); err != nil {
		return nil, err
	}
	haveCJK := false
	y := 50.0
	line := func(size float64, x float64, text string) error {
		pdf.SetXY(x, y)
		for _, run := range runs(text) {
			font := "sans"
			if run.cjk {
				if !haveCJK { // loaded only for a text that needs it
					if err := pdf.AddTTFFontData("cjk", invoiceCJKFont); err != nil {
						return err
					}
					haveCJK = true
				}
				font = "cjk"
			}
			if err := pdf.SetFont(font, "", size); err != nil {
				return err
			}
			if err := pdf.Cell(nil, run.text); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	w := func(size, x float64, text string) {
		if err == nil {
			err = line(size, x, text)
		}
	}
	label := func(s string) string { // a frozen label: translated when the catalogs know it
		if i18n.Has(s) {
			return l.T(s)
		}
		return s
	}
	seller, payer := inv.Seller, inv.Payer
	w(22, 50, l.T("INVOICE"))
	y += 34
	w(10, 50, l.T("Seller: %s", or(seller.Company, seller.ATTN)))
	for _, s := range []string{seller.Address, seller.Email, seller.TEL} {
		if s != "" {
			y += 14
			w(10, 50, s)
		}
	}
	y += 26
	w(12, 50, l.T("Bill to"))
	values := []string{payer.Company, payer.ATTN, payer.Address, payer.TEL, payer.Fax, payer.Email}
	for i, name := range payerLabels {
		y += 15
		w(10, 50, l.T("%s:", l.T(name)))
		w(10, 160, values[i])
	}
	y += 26
	w(10, 50, l.T("Invoice Number: %s", inv.Number))
	y += 15
	w(10, 50, l.T("Order Number: %s", inv.OrderNumber))
	y += 15
	w(10, 50, l.T("Date: %s", l.Date(inv.Issued)))
	y += 15
	w(10, 50, l.T("Type: %s    Installer: %s    Project: %s", label(inv.Type.Label()), inv.Installer, inv.Project))
	y += 28
	w(10, 50, l.T("User"))
	w(10, 230, l.T("Item"))
	w(10, 400, l.T("Months"))
	w(10, 470, l.T("Amount"))
	y += 4
	pdf.Line(50, y+12, 545, y+12)
	for _, it := range inv.Lines {
		y += 18
		if y > 760 {
			pdf.AddPage()
			y = 50
		}
		w(9, 50, truncate(it.UserName, 34))
		w(9, 230, label(it.Description))
		w(9, 400, l.Number(it.Months))
		w(9, 470, l.Money(it.Amount, inv.Currency))
	}
	y += 22
	pdf.Line(50, y, 545, y)
	y += 8
	w(12, 380, l.T("Total: %s", l.Money(inv.Total, inv.Currency)))
	if err != nil {
		return nil, err
	}
	return pdf.GetBytesPdf(), nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
