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

// InvoicePDF renders the invoice of a completed order: the seller, the
// payer's billing information, the order number and date, the items and
// the total.
func InvoicePDF(o *Order, seller, payer Info) ([]byte, error) {
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4})
	pdf.SetInfo(gopdf.PdfInfo{Title: "Invoice " + o.Number, Creator: "Gatehouse", CreationDate: time.Now()})
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
	paid := o.Created
	if o.Paid != nil {
		paid = *o.Paid
	}
	w(10, 50, "Order Number: %s", o.Number)
	y += 15
	w(10, 50, "Date: %s", paid.UTC().Format("2006-01-02"))
	y += 15
	w(10, 50, "Type: %s    Installer: %s    Project: %s", o.Type.Label(), o.Installer, o.Project)
	y += 28
	w(10, 50, "User")
	w(10, 230, "Item")
	w(10, 400, "Months")
	w(10, 470, "Amount")
	y += 4
	pdf.Line(50, y+12, 545, y+12)
	for _, it := range o.Items {
		y += 18
		if y > 760 {
			pdf.AddPage()
			y = 50
		}
		w(9, 50, "%s", truncate(it.UserName, 34))
		w(9, 230, "%s", it.Item.Label())
		w(9, 400, "%d", it.Months)
		w(9, 470, "%s", FormatMoney(it.Amount, o.Currency))
	}
	y += 22
	pdf.Line(50, y, 545, y)
	y += 8
	w(12, 380, "Total: %s", FormatMoney(o.Total, o.Currency))
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
