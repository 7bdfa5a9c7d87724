// Package tabular reads and writes the spreadsheets users import and
// download: CSV and XLSX, as rows of cells numbered as in the file.
package tabular

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Row is one row of a file with its 1-based number in the file.
type Row struct {
	N     int
	Cells []string
}

// MaxBytes bounds an uploaded file; MaxRows the rows read from it (a small,
// highly compressed XLSX can hold millions).
const (
	MaxBytes = 16 << 20
	MaxRows  = 100_000
)

var errTooManyRows = fmt.Errorf("the file has more than %d rows: split it", MaxRows)

// clean refuses cells that cannot be stored as text.
func clean(n int, cells []string) error {
	for _, c := range cells {
		if strings.ContainsRune(c, 0) || !utf8.ValidString(c) {
			return fmt.Errorf("row %d: a cell holds a NUL character or invalid UTF-8", n)
		}
	}
	return nil
}

// xlsxMagic starts every XLSX (a ZIP archive).
var xlsxMagic = []byte("PK\x03\x04")

// Read parses a CSV or XLSX file (told apart by content, not name), and
// returns its non-empty rows. The first sheet of a workbook is read.
func Read(data []byte) ([]Row, error) {
	if bytes.HasPrefix(data, xlsxMagic) {
		return readXLSX(data)
	}
	return readCSV(data)
}

func readCSV(data []byte) ([]Row, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // Excel's UTF-8 BOM
	if !utf8.Valid(data) {
		return nil, errors.New("the file is neither UTF-8 CSV nor XLSX")
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	// Semicolons are the CSV separator of many European spreadsheet exports.
	if first, _, _ := strings.Cut(string(data), "\n"); strings.Count(first, ";") > strings.Count(first, ",") {
		r.Comma = ';'
	}
	var rows []Row
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("row %d: %v", pe.StartLine, pe.Err)
			}
			return nil, err
		}
		line, _ := r.FieldPos(0)
		if blank(rec) {
			continue
		}
		if err := clean(line, rec); err != nil {
			return nil, err
		}
		if len(rows) == MaxRows {
			return nil, errTooManyRows
		}
		rows = append(rows, Row{N: line, Cells: rec})
	}
	return rows, nil
}

func readXLSX(data []byte) ([]Row, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the XLSX file cannot be read: %v", err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, errors.New("the workbook has no sheet")
	}
	it, err := f.Rows(sheets[0])
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var rows []Row
	for n := 1; it.Next(); n++ {
		cells, err := it.Columns()
		if err != nil {
			return nil, fmt.Errorf("row %d: %v", n, err)
		}
		if blank(cells) {
			continue
		}
		if err := clean(n, cells); err != nil {
			return nil, err
		}
		if len(rows) == MaxRows {
			return nil, errTooManyRows
		}
		rows = append(rows, Row{N: n, Cells: cells})
	}
	return rows, it.Error()
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// Cell returns cell i of a row, trimmed, or "".
func (r Row) Cell(i int) string {
	if i < len(r.Cells) {
		return strings.TrimSpace(r.Cells[i])
	}
	return ""
}

// CSV renders a header and rows as CSV.
func CSV(header []string, rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows)
	return b.Bytes()
}

// XLSX renders a header and rows as a one-sheet workbook.
func XLSX(sheet string, header []string, rows [][]string) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	all := append([][]string{header}, rows...)
	for i, r := range all {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		vals := make([]any, len(r))
		for j, v := range r {
			vals[j] = v
		}
		if err := f.SetSheetRow(sheet, cell, &vals); err != nil {
			return nil, err
		}
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err == nil {
		last, _ := excelize.CoordinatesToCellName(len(header), 1)
		f.SetCellStyle(sheet, "A1", last, bold)
	}
	f.SetColWidth(sheet, "A", "B", 24)
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
