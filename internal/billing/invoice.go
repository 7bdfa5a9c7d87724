package billing

import (
	_ "embed"
	"fmt"
	"time"

	"github.com/signintech/gopdf"
)

// DejaVu Sans (Bitstream Vera licence, DejaVu changes public domain; see fonts/LICENSE-DejaVuSans.txt).
//
//go:embed fonts/DejaVuSans.ttf
var invoiceFont []byte

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

// InvoicePDF renders an invoice: the seller, the payer's billing
// information, the invoice and order numbers and date, the lines and the
// total — all as frozen when the order completed.
func InvoicePDF(inv *Invoice) ([]byte, error) {
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4})
	pdf.SetInfo(gopdf.PdfInfo{Title: "Invoice " + inv.Number, Creator: "Gatehouse", CreationDate: inv.Issued})
	pdf.AddPage()
	if err := pdf.AddTTFFontData("sans", invoiceFont); err != nil {
		return nil, err
	}
	y := 50.0
	line := func(size float64, x float64, text string) error {
		if err := pdf.SetFont("sans", "", size); err != nil {
			return err
		}
		pdf.SetXY(x, y)
		return pdf.Cell(nil, text)
	}
	var err error
	w := func(size, x float64, format string, args ...any) {
		if err == nil {
			err = line(size, x, fmt.Sprintf(format, args...))
		}
	}
	seller, payer := inv.Seller, inv.Payer
	w(22, 50, "INVOICE")
	y += 34
	w(10, 50, "Seller: %s", or(seller.Company, seller.ATTN))
	for _, s := range []string{seller.Address, seller.Email, seller.TEL} {
		if s != "" {
			y += 14
			w(10, 50, "%s", s)
		}
	}
	y += 26
	w(12, 50, "Bill to")
	rows := [][2]string{{"Company/Family", payer.Company}, {"ATTN", payer.ATTN}, {"Address", payer.Address}, {"TEL", payer.TEL}, {"Fax", payer.Fax}, {"Email", payer.Email}}
	for _, r := range rows {
		y += 15
		w(10, 50, "%s:", r[0])
		w(10, 160, "%s", r[1])
	}
	y += 26
	w(10, 50, "Invoice Number: %s", inv.Number)
	y += 15
	w(10, 50, "Order Number: %s", inv.OrderNumber)
	y += 15
	w(10, 50, "Date: %s", inv.Issued.UTC().Format("2006-01-02"))
	y += 15
	w(10, 50, "Type: %s    Installer: %s    Project: %s", inv.Type.Label(), inv.Installer, inv.Project)
	y += 28
	w(10, 50, "User")
	w(10, 230, "Item")
	w(10, 400, "Months")
	w(10, 470, "Amount")
	y += 4
	pdf.Line(50, y+12, 545, y+12)
	for _, it := range inv.Lines {
		y += 18
		if y > 760 {
			pdf.AddPage()
			y = 50
		}
		w(9, 50, "%s", truncate(it.UserName, 34))
		w(9, 230, "%s", it.Description)
		w(9, 400, "%d", it.Months)
		w(9, 470, "%s", FormatMoney(it.Amount, inv.Currency))
	}
	y += 22
	pdf.Line(50, y, 545, y)
	y += 8
	w(12, 380, "Total: %s", FormatMoney(inv.Total, inv.Currency))
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
