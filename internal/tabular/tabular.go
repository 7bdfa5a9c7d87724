// Package tabular reads and writes the spreadsheets users import and
// download: CSV and XLSX, as rows of cells numbered as in the file.
package tabular

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Row is one row of a file with its 1-based number in the file.
type Row struct {
	N     int
	Cells []string
}

// The bounds of one import. A file is refused past any of them before it
// can cost more: a 500 KiB XLSX can inflate to gigabytes, and its ZIP
// directory may lie about it. Sized for the largest legitimate import
// (50,000 MACs, 10,000 end users of 14 columns) with room to spare.
const (
	MaxBytes    = 16 << 20 // the uploaded file
	MaxInflated = 64 << 20 // all entries of an XLSX, inflated
	MaxEntries  = 1_000    // entries of an XLSX (a workbook has a dozen)
	MaxRatio    = 250      // inflated to deflated, for an entry over ratioFloor
	// XML elements outside the sheets, which excelize parses whole into
	// structs: the shared strings (two elements a string), and all else
	// (styles cost 450 bytes an element).
	MaxStringElements = 1_000_000
	MaxOtherElements  = 200_000
	MaxToken          = 1 << 20 // bytes between two XML tags: a cell's text, at most 32,767 characters
	MaxRows           = 100_000
	MaxColumns        = 256
	MaxCells          = 1_000_000
	MaxCellBytes      = 4_096
	MaxTime           = 30 * time.Second // 50,000 MACs (XLSX) read in 1-3 s; room for a loaded machine

	// ratioFloor: small entries may compress as well as they like.
	ratioFloor = 1 << 20
	// xmlInMemory is excelize's UnzipXMLSizeLimit: a larger sheet or shared
	// string table is inflated to a temporary file and streamed from it.
	xmlInMemory = 4 << 20
)

// LimitError is a file refused for passing one of the bounds above, as
// opposed to a malformed one: HTTP says 413 rather than 400.
type LimitError struct{ msg string }

func (e *LimitError) Error() string { return e.msg }

func limitf(format string, args ...any) error {
	return &LimitError{msg: fmt.Sprintf(format, args...)}
}

// thousands writes n as 1,000,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// clean refuses cells that cannot be stored as text.
func clean(n int, cells []string) error {
	for _, c := range cells {
		if strings.ContainsRune(c, 0) || !utf8.ValidString(c) {
			return fmt.Errorf("row %d: a cell holds a NUL character or invalid UTF-8", n)
		}
	}
	return nil
}

// rowsBound checks every read row against the row, column, cell and time
// bounds, and keeps the non-blank ones.
type rowsBound struct {
	ctx   context.Context
	rows  []Row
	cells int
}

func (b *rowsBound) add(n int, cells []string) error {
	if err := b.ctx.Err(); err != nil {
		return timeout(err)
	}
	// Counted before trailing blanks are dropped: a space in column XFD
	// makes a row of 16,384 cells, 256 KiB and 100 µs each.
	if len(cells) > MaxColumns {
		return limitf("row %d has more than %d columns", n, MaxColumns)
	}
	// Trailing blank cells are not kept, nor the array that held them.
	if k := len(cells); k > 0 && strings.TrimSpace(cells[k-1]) == "" {
		for k > 0 && strings.TrimSpace(cells[k-1]) == "" {
			k--
		}
		cells = slices.Clone(cells[:k])
	}
	if len(cells) == 0 {
		return nil
	}
	for _, c := range cells {
		if len(c) > MaxCellBytes {
			return limitf("row %d: a cell is longer than %s bytes", n, thousands(MaxCellBytes))
		}
	}
	if err := clean(n, cells); err != nil {
		return err
	}
	if len(b.rows) == MaxRows {
		return limitf("the file has more than %s rows: split it", thousands(MaxRows))
	}
	if b.cells += len(cells); b.cells > MaxCells {
		return limitf("the file has more than %s cells: split it", thousands(MaxCells))
	}
	b.rows = append(b.rows, Row{N: n, Cells: cells})
	return nil
}

func timeout(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return limitf("reading the file took longer than %v: split it", MaxTime)
	}
	return err
}

// xlsxMagic starts every XLSX (a ZIP archive).
var xlsxMagic = []byte("PK\x03\x04")

// Read parses a CSV or XLSX file (told apart by content, not name), and
// returns its non-empty rows. The first sheet of a workbook is read. A file
// past a bound is refused with a *LimitError naming it; reading stops at
// MaxTime or when ctx ends.
func Read(ctx context.Context, data []byte) ([]Row, error) {
	if len(data) > MaxBytes {
		return nil, limitf("the file is larger than %d MiB", MaxBytes>>20)
	}
	ctx, cancel := context.WithTimeout(ctx, MaxTime)
	defer cancel()
	if bytes.HasPrefix(data, xlsxMagic) {
		return readXLSX(ctx, data)
	}
	return readCSV(ctx, data)
}

func readCSV(ctx context.Context, data []byte) ([]Row, error) {
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
	// The reader allocates a whole record before it can be refused: a file of
	// 16 MiB of commas would be one record of 16 million cells. Every cell
	// but a row's first follows a separator, so counting them bounds all.
	if n := bytes.Count(data, []byte(string(r.Comma))); n > MaxCells {
		return nil, limitf("the file has more than %s cells: split it", thousands(MaxCells))
	}
	b := rowsBound{ctx: ctx}
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
		if err := b.add(line, rec); err != nil {
			return nil, err
		}
	}
	return b.rows, nil
}

func readXLSX(ctx context.Context, data []byte) (_ []Row, err error) {
	// excelize is a large parser of untrusted input: should a file make it
	// panic, the file is refused, rather than the request dropped.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the XLSX file cannot be read: %v", p)
		}
	}()
	if err := checkZip(ctx, data); err != nil {
		return nil, err
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		UnzipSizeLimit: MaxInflated, UnzipXMLSizeLimit: xmlInMemory})
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
		return nil, fmt.Errorf("the XLSX file cannot be read: %v", err)
	}
	defer it.Close()
	b := rowsBound{ctx: ctx}
	for n := 1; it.Next(); n++ {
		cells, err := it.Columns()
		if err != nil {
			return nil, fmt.Errorf("row %d: %v", n, err)
		}
		if err := b.add(n, cells); err != nil {
			return nil, err
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("the XLSX file cannot be read: %v", err)
	}
	return b.rows, nil
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

// ExportCSV is CSV for an export of stored data: a cell a spreadsheet would
// take for a formula (=, +, -, @, tab, CR first: text a user or a device
// chose, such as a device's error) is written with a leading apostrophe.
func ExportCSV(header []string, rows [][]string) []byte {
	safe := make([][]string, len(rows))
	for i, r := range rows {
		safe[i] = SafeCells(slices.Clone(r))
	}
	return CSV(header, safe)
}

// SafeCells defuses, in place, the cells a spreadsheet would take for a
// formula (see ExportCSV), and returns cells.
func SafeCells(cells []string) []string {
	for i, c := range cells {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			cells[i] = "'" + c
		}
	}
	return cells
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
