package tabular

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// checkZip vets an XLSX before excelize opens it, since excelize trusts the
// ZIP directory: it allocates an entry's declared size up front (a 2 MiB
// file declaring gigabytes killed the server), and inflates every entry.
// First the directory is checked (entries, each declared size, their sum,
// the compression ratio); then every entry is inflated here, into nothing,
// through a counter that stops at the bound whatever was declared, and its
// XML scanned for what would cost memory once parsed: huge tokens, and more
// elements outside the sheets than the bounds allow. Only then is it
// unpacked for real, within sizes now known.
func checkZip(ctx context.Context, data []byte) error {
	// zip.NewReader keeps a struct per directory entry, and reads entries
	// past the count the archive declares: count the directory signatures,
	// an upper bound on the entries, before letting it.
	if n := bytes.Count(data, []byte("PK\x01\x02")); n > MaxEntries {
		return limitf("the XLSX file has more than %s entries", thousands(MaxEntries))
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("the XLSX file cannot be read: %v", err)
	}
	inflatesPast := limitf("the XLSX file inflates past %d MiB", MaxInflated>>20)
	var total uint64
	for _, f := range zr.File {
		size := f.UncompressedSize64
		if size > MaxInflated || total+size > MaxInflated {
			return inflatesPast
		}
		total += size
		if size > ratioFloor && size/max(f.CompressedSize64, 1) > MaxRatio {
			return limitf("the XLSX file's %s is compressed more than %d to 1", f.Name, MaxRatio)
		}
	}
	var s xmlScan
	budget := int64(MaxInflated)
	buf := make([]byte, 32<<10)
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("the XLSX file cannot be read: %s: %v", f.Name, err)
		}
		s.start(f.Name)
		// Stop one byte past the bound: what was declared does not matter.
		lr := &io.LimitedReader{R: rc, N: budget + 1}
		for {
			n, err := lr.Read(buf)
			if n > 0 {
				budget -= int64(n)
				if budget < 0 {
					rc.Close()
					if uint64(MaxInflated) > total {
						return limitf("the XLSX file's %s inflates past its declared size, and past %d MiB", f.Name, MaxInflated>>20)
					}
					return inflatesPast
				}
				if err := s.scan(buf[:n]); err != nil {
					rc.Close()
					return err
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				// archive/zip refuses an entry longer than declared (ErrFormat)
				// or shorter, or failing its checksum.
				if errors.Is(err, zip.ErrFormat) {
					return limitf("the XLSX file's %s inflates past its declared size", f.Name)
				}
				return fmt.Errorf("the XLSX file cannot be read: %s: %v", f.Name, err)
			}
			if err := ctx.Err(); err != nil {
				rc.Close()
				return timeout(err)
			}
		}
		rc.Close()
	}
	return nil
}

// xmlScan measures XML as it streams past: the longest run between two
// "<" (bounding any token the decoder must hold whole), and the elements of
// the parts parsed whole. XML comments, CDATA and DOCTYPEs are refused: no
// spreadsheet writes them, and "<" inside them would hide a long token.
type xmlScan struct {
	part          string
	xml           bool
	elements      *int64 // the count this part adds to, nil for a sheet
	max           int64
	run           int64
	lt            bool // the last byte seen was "<"
	strings, rest int64
}

// start begins a part. Sheets are streamed row by row: their elements cost
// nothing kept. The rest excelize parses whole into structs.
func (s *xmlScan) start(name string) {
	lower := strings.ToLower(strings.ReplaceAll(name, "\\", "/"))
	s.part, s.run, s.lt = name, 0, false
	s.xml = strings.HasSuffix(lower, ".xml") || strings.HasSuffix(lower, ".rels") || strings.HasSuffix(lower, ".vml")
	switch {
	case strings.HasPrefix(lower, "xl/worksheets/sheet"):
		s.elements = nil
	case lower == "xl/sharedstrings.xml":
		s.elements, s.max = &s.strings, MaxStringElements
	default:
		s.elements, s.max = &s.rest, MaxOtherElements
	}
}

func (s *xmlScan) scan(p []byte) error {
	if !s.xml {
		return nil
	}
	for len(p) > 0 {
		if s.lt {
			s.lt = false
			switch p[0] {
			case '!':
				return errors.New("the XLSX file holds XML comments, CDATA or a DOCTYPE, which spreadsheets do not write")
			case '/', '?':
			default:
				if s.elements != nil {
					if *s.elements++; *s.elements > s.max {
						if s.elements == &s.strings {
							return limitf("the XLSX file's %s has more than %s XML elements", s.part, thousands(s.max))
						}
						return limitf("the XLSX file has more than %s XML elements besides its sheets and shared strings", thousands(s.max))
					}
				}
			}
		}
		i := bytes.IndexByte(p, '<')
		if i < 0 {
			i = len(p)
		}
		if s.run += int64(i); s.run > MaxToken {
			return limitf("the XLSX file has a cell or tag longer than %d MiB", MaxToken>>20)
		}
		if i == len(p) {
			return nil
		}
		s.run, s.lt, p = 0, true, p[i+1:]
	}
	return nil
}
