package tabular_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/tabular"
	"github.com/gatehouse-dev/gatehouse/internal/tabular/tabulartest"
)

// FuzzRead: no file makes Read panic, and whatever it accepts keeps the
// bounds: rows numbered upwards, none blank, each within the column and
// cell bounds, all text storable. Seeds are CSV and XLSX files, small
// bombs, and what fuzzing found (testdata/fuzz/FuzzRead).
func FuzzRead(f *testing.F) {
	header := []string{"MAC", "Name"}
	rows := [][]string{{"0C:11:05:00:00:01", "Gate"}, {"", ""}, {"0c1105000002", "Villa, north"}}
	x, err := tabular.XLSX("MACs", header, rows)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{
		tabular.CSV(header, rows),
		[]byte("\xef\xbb\xbfMAC;Name\n0C:11:05:00:00:01;Gate\n\n0c1105000002;\"Villa, north\"\n"),
		[]byte("a,\"b\nc"),
		[]byte("Name,Role\n \"Ada \"\"B\"\"\",master\n\n,,,\n"),
		[]byte{0xff, 0xfe, 0x00},
		x,
		tabulartest.Bomb(1<<16, tabulartest.Honest),
		tabulartest.Bomb(1<<16, tabulartest.Under),
		tabulartest.Bomb(1<<10, tabulartest.Over),
		tabulartest.Workbook(map[string][]byte{"xl/worksheets/sheet1.xml": tabulartest.Sheet(
			tabulartest.InlineCell("a")+`<c r="C1" t="s"><v>1</v></c>`, `<c r="B5"><v>3.5</v></c>`)}),
	} {
		f.Add(seed)
	}
	f.Fuzz(checkRead)
}

// FuzzReadSheet fuzzes the XML of a workbook's first sheet and its shared
// strings, inside a valid ZIP (mutated ZIPs rarely get past their checksums
// to the XML parsers).
func FuzzReadSheet(f *testing.F) {
	sst := []byte(`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>MAC</t></si><si><r><t>Na</t></r><r><t>me</t></r></si></sst>`)
	for _, sheet := range [][]byte{
		tabulartest.Sheet(`<c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>`, `<c t="inlineStr"><is><t>0C1105000001</t></is></c><c t="str"><v>x &amp; y</v></c>`),
		tabulartest.Sheet(`<c r="A3" s="0"><v>45000.5</v></c><c r="D3" t="b"><v>1</v></c><c r="E3" t="e"><v>#N/A</v></c>`, `<c r="XFD9" t="s"><v>7</v></c>`),
		[]byte(`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1000"><c r="A1000"><v>1</v></c></row><row r="2"/></sheetData></worksheet>`),
	} {
		f.Add(sheet, sst)
	}
	f.Fuzz(func(t *testing.T, sheet, sst []byte) {
		checkRead(t, tabulartest.Workbook(map[string][]byte{"xl/worksheets/sheet1.xml": sheet, "xl/sharedStrings.xml": sst}))
	})
}

// checkRead reads data and checks what Read accepted.
func checkRead(t *testing.T, data []byte) {
	rows, err := tabular.Read(context.Background(), data)
	if err != nil {
		if rows != nil {
			t.Errorf("rows with an error: %v", err)
		}
		return
	}
	if len(rows) > tabular.MaxRows {
		t.Errorf("%d rows", len(rows))
	}
	last, cells := 0, 0
	for _, r := range rows {
		if r.N <= last {
			t.Errorf("row %d after row %d", r.N, last)
		}
		last = r.N
		if len(r.Cells) == 0 || len(r.Cells) > tabular.MaxColumns {
			t.Errorf("row %d: %d cells", r.N, len(r.Cells))
		}
		cells += len(r.Cells)
		blank := true
		for _, c := range r.Cells {
			if len(c) > tabular.MaxCellBytes || !utf8.ValidString(c) || strings.ContainsRune(c, 0) {
				t.Errorf("row %d: cell %q", r.N, c)
			}
			blank = blank && strings.TrimSpace(c) == ""
		}
		if blank {
			t.Errorf("row %d is blank", r.N)
		}
	}
	if cells > tabular.MaxCells {
		t.Errorf("%d cells", cells)
	}
}
