package tabular_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tabular"
	"github.com/gatehouse-dev/gatehouse/internal/tabular/tabulartest"
	"github.com/gatehouse-dev/gatehouse/internal/testutil/heapwatch"
)

// The heap while reading the largest files within the bounds: the largest
// real imports, and hostile files built to cost the most memory a parser
// could spend on what the bounds let through. README quotes these figures.
func TestPeakMemoryAtBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds files of tens of MiB")
	}
	r := rand.New(rand.NewPCG(3, 4))
	macs := make([][]string, 50_000)
	for i := range macs {
		macs[i] = []string{fmt.Sprintf("0C:11:05:%02X:%02X:%02X", i>>16, i>>8&0xff, i&0xff), randomText(r, 64)}
	}
	users := make([][]string, 10_000)
	for i := range users {
		u := make([]string, 14)
		for j := range u {
			u[j] = randomText(r, 24)
		}
		users[i] = u
	}
	// The most shared strings the element bound lets through.
	var sst strings.Builder
	sst.WriteString(`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>MAC</t></si><si><t>Name</t></si>`)
	for range tabular.MaxStringElements/2 - 3 { // the rest of the workbook has a few hundred elements
		sst.WriteString("<si><t>" + randomText(r, 8) + "</t></si>")
	}
	sst.WriteString("</sst>")
	// The most cell formats the element bound lets through.
	var styles strings.Builder
	styles.WriteString(`<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs>`)
	for range tabular.MaxOtherElements - 2_000 { // the rest of the workbook has a few hundred
		fmt.Fprintf(&styles, `<xf numFmtId="%d" fontId="%d"/>`, r.IntN(200), r.IntN(1000))
	}
	styles.WriteString("</cellXfs></styleSheet>")
	// The most cells (MaxCells), in a sheet just under MaxInflated.
	cells := make([]string, tabular.MaxCells/10)
	for i := range cells {
		var b strings.Builder
		for range 10 {
			b.WriteString(tabulartest.InlineCell(randomText(r, 20)))
		}
		cells[i] = b.String()
	}
	// The most rows, each with a space in the last column (16,384 cells).
	spaced := make([]string, tabular.MaxRows)
	for i := range spaced {
		spaced[i] = tabulartest.InlineCell(randomText(r, 8)) + `<c r="XFD` + fmt.Sprint(i+1) + `" t="inlineStr"><is><t> </t></is></c>`
	}
	mustXLSX := func(header []string, rows [][]string) []byte {
		b, err := tabular.XLSX("Sheet1", header, rows)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var csv strings.Builder
	for i := 0; csv.Len() < tabular.MaxBytes-200; i++ {
		csv.WriteString(randomText(r, 170) + "," + randomText(r, 5) + "\n")
	}
	for _, c := range []struct {
		name   string
		data   []byte
		refuse string // "" for accepted
	}{
		{"50,000 MACs (XLSX)", mustXLSX([]string{"MAC", "Name"}, macs), ""},
		{"50,000 MACs (CSV)", tabular.CSV([]string{"MAC", "Name"}, macs), ""},
		{"10,000 end users of 14 columns (XLSX)", mustXLSX(strings.Split("abcdefghijklmn", ""), users), ""},
		{"16 MiB CSV", []byte(csv.String()), ""},
		{"500,000 shared strings", tabulartest.Workbook(map[string][]byte{"xl/sharedStrings.xml": []byte(sst.String())}), ""},
		{"200,000 cell formats", tabulartest.Workbook(map[string][]byte{"xl/styles.xml": []byte(styles.String())}), ""},
		{"1,000,000 cells", tabulartest.Workbook(map[string][]byte{"xl/worksheets/sheet1.xml": tabulartest.Sheet(cells...)}), ""},
		{"100,000 rows reaching column XFD", tabulartest.Workbook(map[string][]byte{"xl/worksheets/sheet1.xml": tabulartest.Sheet(spaced...)}), "row 1 has more than 256 columns"},
		{"1 MiB token", tabulartest.Workbook(map[string][]byte{"xl/worksheets/sheet1.xml": tabulartest.Sheet(tabulartest.InlineCell(randomText(r, tabular.MaxToken-100)))}), "longer than 4,096 bytes"},
	} {
		runtime.GC()
		w := heapwatch.Start(1 << 30)
		start := time.Now()
		rows, err := tabular.Read(context.Background(), c.data)
		took, peak := time.Since(start), w.Stop()
		t.Logf("%-38s %6.1f MiB file: %6d rows, heap %3d -> peak %3d MiB, %v", c.name, float64(len(c.data))/(1<<20), len(rows), w.Start>>20, peak>>20, took.Round(time.Millisecond))
		if c.refuse == "" && err != nil || c.refuse != "" && (err == nil || !strings.Contains(err.Error(), c.refuse)) {
			t.Errorf("%s: %v", c.name, err)
		}
		if peak-w.Start > 256<<20 {
			t.Errorf("%s: the heap grew by %d MiB", c.name, (peak-w.Start)>>20)
		}
		rows = nil
	}
}
