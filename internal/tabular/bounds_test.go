package tabular_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tabular"
	"github.com/gatehouse-dev/gatehouse/internal/tabular/tabulartest"
)

// randomText is n letters that do not compress much (so that the ratio
// bound does not refuse a file before the bound under test).
func randomText(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(r.IntN(26))
	}
	return string(b)
}

// Every bound refuses its file with a *LimitError naming it (413), or, for
// a malformed file, a plain error (400).
func TestBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	manyEntries := func() []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for i := range tabular.MaxEntries + 1 {
			zw.Create(fmt.Sprintf("x/%d", i))
		}
		zw.Close()
		return b.Bytes()
	}
	sst := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
		for range n {
			b.WriteString("<si><t>" + randomText(r, 6) + "</t></si>")
		}
		b.WriteString("</sst>")
		return []byte(b.String())
	}
	var styles strings.Builder
	for range tabular.MaxOtherElements {
		fmt.Fprintf(&styles, `<xf fontId="%d"/>`, r.IntN(1000))
	}
	big := strings.Repeat("0C1105000001,x\n", tabular.MaxBytes/15+1)
	for _, c := range []struct {
		name  string
		data  []byte
		want  string
		limit bool
	}{
		{"upload size", []byte(big), "larger than 16 MiB", true},
		{"csv cells", bytes.Repeat([]byte(","), tabular.MaxCells+1), "more than 1,000,000 cells", true},
		{"csv rows", []byte(strings.Repeat("0C1105000001\n", tabular.MaxRows+1)), "more than 100,000 rows", true},
		{"csv columns", []byte("a" + strings.Repeat(",b", tabular.MaxColumns)), "row 1 has more than 256 columns", true},
		{"csv blank columns", []byte("a" + strings.Repeat(", ", tabular.MaxColumns)), "row 1 has more than 256 columns", true},
		{"csv cell length", []byte("MAC\n" + strings.Repeat("a", tabular.MaxCellBytes+1)), "row 2: a cell is longer than 4,096 bytes", true},
		{"xlsx declared size", tabulartest.Bomb(tabular.MaxInflated, tabulartest.Honest), "inflates past 64 MiB", true},
		{"xlsx understated size", tabulartest.Bomb(1<<20, tabulartest.Under), "sheet1.xml inflates past its declared size", true},
		{"xlsx overstated size", tabulartest.Bomb(1<<10, tabulartest.Over), "inflates past 64 MiB", true},
		{"xlsx ratio", tabulartest.Bomb(8<<20, tabulartest.Honest), "sheet1.xml is compressed more than 250 to 1", true},
		{"xlsx entries", manyEntries(), "more than 1,000 entries", true},
		{"xlsx token", tabulartest.Workbook(map[string][]byte{"xl/worksheets/sheet1.xml": tabulartest.Sheet(tabulartest.InlineCell(randomText(r, tabular.MaxToken+1)))}), "longer than 1 MiB", true},
		{"xlsx shared strings", tabulartest.Workbook(map[string][]byte{"xl/sharedStrings.xml": sst(tabular.MaxStringElements / 2)}), "sharedStrings.xml has more than 1,000,000 XML elements", true},
		{"xlsx other elements", tabulartest.Workbook(map[string][]byte{"xl/styles.xml": []byte("<styleSheet>" + styles.String() + "</styleSheet>")}), "more than 200,000 XML elements besides", true},
		{"xlsx columns", tabulartest.Workbook(map[string][]byte{"xl/worksheets/sheet1.xml": tabulartest.Sheet(`<c r="IW1" t="inlineStr"><is><t>x</t></is></c>`)}), "row 1 has more than 256 columns", true},
		{"xlsx cell length", tabulartest.Workbook(map[string][]byte{"xl/worksheets/sheet1.xml": tabulartest.Sheet(tabulartest.InlineCell(randomText(r, tabular.MaxCellBytes+1)))}), "row 1: a cell is longer than 4,096 bytes", true},
		{"xlsx CDATA", tabulartest.Workbook(map[string][]byte{"xl/worksheets/sheet1.xml": tabulartest.Sheet(tabulartest.InlineCell("<![CDATA[x]]>"))}), "CDATA", false},
	} {
		_, err := tabular.Read(context.Background(), c.data)
		var le *tabular.LimitError
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.As(err, &le) != c.limit {
			t.Errorf("%s (%d KiB): %v, want %q (a limit: %v)", c.name, len(c.data)>>10, err, c.want, c.limit)
		}
	}
	// Just under the cell, column and element bounds is fine.
	ok := tabulartest.Workbook(map[string][]byte{"xl/worksheets/sheet1.xml": tabulartest.Sheet(
		tabulartest.InlineCell(strings.Repeat("é", tabular.MaxCellBytes/2)) + `<c r="IV1" t="inlineStr"><is><t>x</t></is></c>`)})
	if rows, err := tabular.Read(context.Background(), ok); err != nil || len(rows) != 1 || len(rows[0].Cells) != tabular.MaxColumns {
		t.Errorf("at the bounds: %v", err)
	}
	// Time: a reading whose deadline passed stops, naming the bound.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	for _, data := range [][]byte{[]byte("a,b\n"), ok} {
		if _, err := tabular.Read(ctx, data); err == nil || !strings.Contains(err.Error(), "took longer than 30s") {
			t.Errorf("past the deadline: %v", err)
		}
	}
}
