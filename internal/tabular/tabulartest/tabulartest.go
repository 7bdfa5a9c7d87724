// Package tabulartest builds hostile spreadsheets for tests: XLSX
// decompression bombs, with honest or lying sizes in the ZIP directory.
package tabulartest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"hash/crc32"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/tabular"
)

// Lie says what a bomb's ZIP directory declares for the bomb entry.
type Lie int

const (
	Honest Lie = iota // the real inflated size
	Under             // 1 KiB: the entry inflates far past what it declares
	Over              // 3 GiB for a tiny part: a reader trusting it allocates 3 GiB
)

const (
	sheetHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
		`<row r="1"><c r="A1" t="inlineStr"><is><t>`
	sheetTail = `</t></is></c></row></sheetData></worksheet>`
)

type deflated struct {
	data []byte
	size uint64
	crc  uint32
}

var (
	mu    sync.Mutex
	cache = map[int64]deflated{}
)

// sheet deflates a worksheet whose one cell holds n bytes of "A", without
// ever holding the inflated text; the result is cached (deflating 512 MiB
// takes a second or two).
func sheet(n int64) deflated {
	mu.Lock()
	defer mu.Unlock()
	if d, ok := cache[n]; ok {
		return d
	}
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression)
	h := crc32.NewIEEE()
	write := func(p []byte) {
		fw.Write(p)
		h.Write(p)
	}
	write([]byte(sheetHead))
	chunk := bytes.Repeat([]byte("A"), 1<<20)
	for left := n; left > 0; left -= int64(len(chunk)) {
		write(chunk[:min(int64(len(chunk)), left)])
	}
	write([]byte(sheetTail))
	fw.Close()
	d := deflated{data: b.Bytes(), size: uint64(len(sheetHead)) + uint64(n) + uint64(len(sheetTail)), crc: h.Sum32()}
	cache[n] = d
	return d
}

// Bomb returns a real workbook (the template a user would fill in) whose
// first sheet inflates to about n bytes: one cell of n "A"s, deflated about
// 1000 to 1. lie chooses what the ZIP directory says about it.
func Bomb(n int64, lie Lie) []byte {
	tmpl := template()
	zr, err := zip.NewReader(bytes.NewReader(tmpl), int64(len(tmpl)))
	if err != nil {
		panic(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		switch {
		case f.Name == "xl/worksheets/sheet1.xml":
			d := sheet(n)
			fh := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, CRC32: d.crc,
				CompressedSize64: uint64(len(d.data)), UncompressedSize64: d.size}
			if lie == Under {
				fh.UncompressedSize64 = 1 << 10
			}
			w, err := zw.CreateRaw(fh)
			if err != nil {
				panic(err)
			}
			w.Write(d.data)
		case f.Name == "xl/styles.xml" && lie == Over:
			raw, _ := f.OpenRaw()
			var b bytes.Buffer
			b.ReadFrom(raw)
			fh := f.FileHeader
			fh.UncompressedSize64 = 3 << 30
			w, err := zw.CreateRaw(&fh)
			if err != nil {
				panic(err)
			}
			w.Write(b.Bytes())
		default:
			if err := zw.Copy(f); err != nil {
				panic(err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// template is the workbook a user would fill in, made once (fuzzing calls
// Workbook for every input).
var template = sync.OnceValue(func() []byte {
	b, err := tabular.XLSX("Sheet1", []string{"MAC", "Name"}, nil)
	if err != nil {
		panic(err)
	}
	return b
})

// Workbook returns the template workbook with parts replaced or added
// (deflated as any writer would), e.g. "xl/worksheets/sheet1.xml".
func Workbook(parts map[string][]byte) []byte {
	tmpl := template()
	zr, err := zip.NewReader(bytes.NewReader(tmpl), int64(len(tmpl)))
	if err != nil {
		panic(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	done := map[string]bool{}
	put := func(name string, data []byte) {
		w, err := zw.Create(name)
		if err != nil {
			panic(err)
		}
		w.Write(data)
		done[name] = true
	}
	for _, f := range zr.File {
		if data, ok := parts[f.Name]; ok {
			put(f.Name, data)
		} else if err := zw.Copy(f); err != nil {
			panic(err)
		}
	}
	for name, data := range parts {
		if !done[name] {
			put(name, data)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// Sheet wraps rows of XML cells (<c>...</c>) as a worksheet.
func Sheet(rows ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	for _, r := range rows {
		b.WriteString("<row>" + r + "</row>")
	}
	b.WriteString(`</sheetData></worksheet>`)
	return b.Bytes()
}

// InlineCell is a cell holding text s (XML-escaped by the caller).
func InlineCell(s string) string { return `<c t="inlineStr"><is><t>` + s + `</t></is></c>` }
