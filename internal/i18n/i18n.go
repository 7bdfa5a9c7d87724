// Package i18n is the portal's languages: message catalogs (golang.org/x/text
// catalogs with CLDR plural rules) built from the JSON files under catalogs/,
// the choice of a request's language, and dates, times and money in the
// language's format and the account's time zone.
//
// A message's key is its English text, a fmt format ("%d devices"); each
// language's files map it to a translation or, for a plural, to its CLDR
// forms ({"one": "%d device", "other": "%d devices"}), the form chosen by
// the first argument. catalogs/en holds every key the portal uses; the tests
// fail when a template or a handler uses text that is not there, or when a
// language lacks a key English has.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

//go:embed catalogs
var catalogFS embed.FS

// Language is one the portal speaks.
type Language struct {
	Tag  string // as stored on an account and in the cookie: en, zh-CN, …
	Name string // in its own language, for the switcher
}

// Languages the portal speaks, in the switcher's order; English first, the
// fallback. The tags are model.Languages (accounts store them).
var Languages = []Language{
	{"en", "English"}, {"zh-CN", "简体中文"}, {"es", "Español"},
	{"de", "Deutsch"}, {"fr", "Français"}, {"ru", "Русский"},
}

// Entry is one message of a catalog file: a plain translation or plural forms.
type Entry struct {
	Text  string            // a plain message
	Forms map[string]string // plural forms by CLDR category (zero one two few many other), or "=N"
}

// UnmarshalJSON reads a string or an object of plural forms.
func (e *Entry) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, &e.Forms)
	}
	return json.Unmarshal(b, &e.Text)
}

// MarshalJSON writes what UnmarshalJSON reads.
func (e Entry) MarshalJSON() ([]byte, error) {
	if e.Forms != nil {
		return json.Marshal(e.Forms)
	}
	return json.Marshal(e.Text)
}

// Plural reports whether the entry holds plural forms.
func (e Entry) Plural() bool { return e.Forms != nil }

// Catalogs are every language's entries: tag → key → entry.
type Catalogs map[string]map[string]Entry

// ReadCatalogs reads the catalog files of every language from fsys (a tree
// of <tag>/<part>.json). A key may be in one part of a language only.
func ReadCatalogs(fsys fs.FS) (Catalogs, error) {
	out := Catalogs{}
	for _, l := range Languages {
		files, err := fs.Glob(fsys, l.Tag+"/*.json")
		if err != nil {
			return nil, err
		}
		entries := map[string]Entry{}
		where := map[string]string{}
		for _, f := range files {
			b, err := fs.ReadFile(fsys, f)
			if err != nil {
				return nil, err
			}
			var part map[string]Entry
			if err := json.Unmarshal(b, &part); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for k, e := range part {
				if w, dup := where[k]; dup {
					return nil, fmt.Errorf("%s: key %q is also in %s", f, k, w)
				}
				where[k], entries[k] = path.Base(f), e
			}
		}
		out[l.Tag] = entries
	}
	return out, nil
}

var (
	loadOnce sync.Once
	loaded   struct {
		cat     *catalog.Builder
		english map[string]Entry
		tags    map[string]language.Tag
		err     error
	}
	printers sync.Map // tag → *message.Printer

	missingMu sync.Mutex
	missing   = map[string]bool{}
)

func load() {
	loadOnce.Do(func() {
		sub, _ := fs.Sub(catalogFS, "catalogs")
		cats, err := ReadCatalogs(sub)
		if err != nil {
			loaded.err = err
			return
		}
		b := catalog.NewBuilder(catalog.Fallback(language.English))
		loaded.tags = map[string]language.Tag{}
		for _, l := range Languages {
			tag := language.MustParse(l.Tag)
			loaded.tags[l.Tag] = tag
			for key, e := range cats[l.Tag] {
				if err := set(b, tag, key, e); err != nil {
					loaded.err = fmt.Errorf("catalog %s, %q: %w", l.Tag, key, err)
					return
				}
			}
		}
		loaded.cat, loaded.english = b, cats["en"]
	})
}

func set(b *catalog.Builder, tag language.Tag, key string, e Entry) error {
	if !e.Plural() {
		return b.SetString(tag, key, e.Text)
	}
	// Exact cases ("=0") first, then CLDR categories in their order, "other" last.
	var cases []any
	var exact []string
	for k := range e.Forms {
		if strings.HasPrefix(k, "=") {
			exact = append(exact, k)
		}
	}
	sort.Strings(exact)
	for _, k := range exact {
		cases = append(cases, k, e.Forms[k])
	}
	for _, k := range []string{"zero", "one", "two", "few", "many", "other"} {
		if v, ok := e.Forms[k]; ok {
			cases = append(cases, k, v)
		}
	}
	return b.Set(tag, key, plural.Selectf(1, "", cases...))
}

// Check loads the catalogs and reports whether they are well formed; the
// server calls it at start so a broken catalog stops it there.
func Check() error {
	load()
	return loaded.err
}

// Locale is a request's language and time zone.
type Locale struct {
	Tag  string
	Zone *time.Location
	p    *message.Printer
}

// For returns the locale of a language tag (one of Languages, else English)
// and a time zone name (an IANA name, else UTC).
func For(tag, zone string) *Locale {
	load()
	if _, ok := loaded.tags[tag]; !ok {
		tag = "en"
	}
	loc := zoneOf(zone)
	p, ok := printers.Load(tag)
	if !ok {
		p, _ = printers.LoadOrStore(tag, message.NewPrinter(loaded.tags[tag], message.Catalog(loaded.cat)))
	}
	return &Locale{Tag: tag, Zone: loc, p: p.(*message.Printer)}
}

// Supported reports whether tag is one of Languages.
func Supported(tag string) bool {
	for _, l := range Languages {
		if l.Tag == tag {
			return true
		}
	}
	return false
}

var matcher = func() language.Matcher {
	var tags []language.Tag
	for _, l := range Languages {
		tags = append(tags, language.MustParse(l.Tag))
	}
	return language.NewMatcher(tags)
}()

// Match picks the language of an Accept-Language header; English when none
// of its languages is spoken here.
func Match(acceptLanguage string) string {
	if len(acceptLanguage) > 512 {
		acceptLanguage = acceptLanguage[:512] // the header comes from outside: bound what is parsed
	}
	if tag, ok := matched.Load(acceptLanguage); ok {
		return tag.(string)
	}
	tag := "en"
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err == nil && len(prefs) > 0 {
		if _, i, conf := matcher.Match(prefs...); conf != language.No {
			tag = Languages[i].Tag
		}
	}
	if matchedN.Add(1) > maxMatched { // browsers send few distinct headers; strangers may send many
		matched.Clear()
		matchedN.Store(0)
	}
	matched.Store(acceptLanguage, tag)
	return tag
}

// matched caches Match: a few thousand headers at most.
var (
	matched  sync.Map
	matchedN atomic.Int64
)

const maxMatched = 4096

// T translates a message and formats its arguments in the locale's way.
// A key the English catalog lacks is recorded (see Missing) and printed as
// given, so a gap shows in English rather than breaking a page.
func (l *Locale) T(key string, args ...any) string {
	if _, ok := loaded.english[key]; !ok {
		missingMu.Lock()
		missing[key] = true
		missingMu.Unlock()
	}
	return l.p.Sprintf(key, args...)
}

// Missing returns the keys asked for since start that the English catalog
// lacks; the test suites fail on any.
func Missing() []string {
	missingMu.Lock()
	defer missingMu.Unlock()
	out := make([]string, 0, len(missing))
	for k := range missing {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// N marks a message key kept in a table (a navigation title, a status
// label) so the catalog tests find it; it is translated where it is shown.
func N(key string) string { return key }

// Has reports whether the catalogs hold key.
func Has(key string) bool {
	load()
	_, ok := loaded.english[key]
	return ok
}

var zones sync.Map // name → *time.Location: LoadLocation reads the zone database each time

// zoneOf is the time zone of an IANA name; UTC for none or an unknown one.
func zoneOf(name string) *time.Location {
	if name == "" || name == "Local" || name == "UTC" {
		return time.UTC
	}
	if z, ok := zones.Load(name); ok {
		return z.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC // not cached: names come from accounts, which are validated
	}
	zones.Store(name, loc)
	return loc
}

// Name is a language's name in its own language; the tag itself for one
// not spoken here.
func Name(tag string) string {
	for _, l := range Languages {
		if l.Tag == tag {
			return l.Name
		}
	}
	return tag
}
