package i18n_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"
	"unicode"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
)

var (
	update = flag.Bool("update", false, "add the keys the code uses that English lacks to catalogs/en/<part>.json and drop unused keys from every catalog")
	part   = flag.String("part", "common", "the catalog file -update adds keys to")
)

// use is one key the code uses, and where.
type use struct {
	plural bool
	where  string
}

// keysInUse finds every message key of the portal: the t and tn calls of
// the templates, the tr/trn/T/N calls of the Go code, and the messages of
// domain errors (model.Errorf, Invalid, TooLarge, Validator.Check and Add,
// NotFound and the model's Msg constants) anywhere under internal/.
func keysInUse(t *testing.T) map[string]use {
	t.Helper()
	keys := map[string]use{}
	add := func(k string, plural bool, where string) {
		if k == "" {
			return
		}
		if u, ok := keys[k]; ok {
			plural = plural || u.plural
		}
		keys[k] = use{plural, where}
	}
	templates, _ := filepath.Glob("../web/templates/*.html")
	if len(templates) == 0 {
		t.Fatal("no templates found")
	}
	for _, f := range templates {
		for _, n := range parseTemplate(t, f) {
			walkTemplate(n, func(n parse.Node) {
				cmd, ok := n.(*parse.CommandNode)
				if !ok || len(cmd.Args) < 2 {
					return
				}
				id, ok := cmd.Args[0].(*parse.IdentifierNode)
				s, lit := cmd.Args[1].(*parse.StringNode)
				if ok && lit && (id.Ident == "t" || id.Ident == "tn") {
					add(s.Text, id.Ident == "tn", filepath.Base(f))
				}
			})
		}
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "faults" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		inModel := file.Name.Name == "model"
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec: // const MsgX = "…" in model
				for i, name := range n.Names {
					if inModel && strings.HasPrefix(name.Name, "Msg") && i < len(n.Values) {
						if s, ok := literal(n.Values[i]); ok {
							add(s, false, path)
						}
					}
				}
			case *ast.CallExpr:
				name, pkg := callee(n.Fun)
				arg := func(i int) (string, bool) {
					if i < len(n.Args) {
						return literal(n.Args[i])
					}
					return "", false
				}
				isModel := pkg == "model" || (pkg == "" && inModel)
				switch {
				case name == "tr" || name == "trn" || name == "Translate":
					if s, ok := arg(1); ok {
						add(s, name == "trn", path)
					}
				case name == "T" && pkg != "" && pkg != "model":
					if s, ok := arg(0); ok {
						add(s, false, path)
					}
				case name == "N" && (pkg == "i18n" || pkg == ""):
					if s, ok := arg(0); ok {
						add(s, false, path)
					}
				case isModel && name == "Errorf", isModel && (name == "Invalid" || name == "TooLarge"), name == "Add" && len(n.Args) >= 2:
					if s, ok := arg(1); ok {
						add(s, false, path)
					}
				case (name == "internal" || name == "billingProviderFailed") && pkg == "c" && len(n.Args) >= 3:
					// c.internal(ctx, "saving your language", err): the message names what failed, capitalised.
					if s, ok := arg(1); ok && s != "" {
						add(strings.ToUpper(s[:1])+s[1:], false, path)
					}
				case name == "WithField" && len(n.Args) >= 2:
					if s, ok := arg(1); ok {
						add(s, false, path)
					}
				case name == "Check" && len(n.Args) >= 3: // v.Check(ok, field, "message", …): the field may be a variable
					if s, ok := arg(2); ok {
						add(s, false, path)
					}
				case isModel && name == "NotFound":
					if s, ok := arg(0); ok {
						add(s+" not found", false, path)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func callee(e ast.Expr) (name, pkg string) {
	switch f := e.(type) {
	case *ast.Ident:
		return f.Name, ""
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok {
			return f.Sel.Name, x.Name
		}
		return f.Sel.Name, "?"
	}
	return "", ""
}

// literal is the value of a string literal or a sum of them.
func literal(e ast.Expr) (string, bool) {
	switch v := e.(type) {
	case *ast.BasicLit:
		if v.Kind == token.STRING {
			s, err := strconv.Unquote(v.Value)
			return s, err == nil
		}
	case *ast.BinaryExpr:
		if v.Op == token.ADD {
			a, ok1 := literal(v.X)
			b, ok2 := literal(v.Y)
			return a + b, ok1 && ok2
		}
	case *ast.ParenExpr:
		return literal(v.X)
	}
	return "", false
}

var templateFuncs = map[string]any{}

func parseTemplate(t *testing.T, file string) []parse.Node {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	trees := map[string]*parse.Tree{}
	tree := parse.New(filepath.Base(file))
	tree.Mode = parse.SkipFuncCheck
	if _, err := tree.Parse(string(b), "{{", "}}", trees); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []parse.Node
	names := make([]string, 0, len(trees))
	for n := range trees {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if trees[n].Root != nil {
			out = append(out, trees[n].Root)
		}
	}
	return out
}

func walkTemplate(n parse.Node, fn func(parse.Node)) {
	if n == nil {
		return
	}
	fn(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walkTemplate(c, fn)
			}
		}
	case *parse.ActionNode:
		walkTemplate(n.Pipe, fn)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				walkTemplate(c, fn)
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkTemplate(a, fn)
		}
	case *parse.IfNode:
		walkTemplate(n.Pipe, fn)
		walkTemplate(n.List, fn)
		walkTemplate(n.ElseList, fn)
	case *parse.RangeNode:
		walkTemplate(n.Pipe, fn)
		walkTemplate(n.List, fn)
		walkTemplate(n.ElseList, fn)
	case *parse.WithNode:
		walkTemplate(n.Pipe, fn)
		walkTemplate(n.List, fn)
		walkTemplate(n.ElseList, fn)
	case *parse.TemplateNode:
		walkTemplate(n.Pipe, fn)
	}
}

// textOf is a template's HTML with every action replaced by \x00: what
// a person can read of it without the catalogs.
func textOf(n parse.Node) string {
	var b strings.Builder
	walkTemplate(n, func(n parse.Node) {
		switch n := n.(type) {
		case *parse.TextNode:
			b.Write(n.Text)
		case *parse.ActionNode:
			b.WriteByte(0)
		}
	})
	return b.String()
}

var (
	comment   = regexp.MustCompile(`(?s)<!--.*?-->`)
	rawBlock  = regexp.MustCompile(`(?is)<(script|style)\b[^>]*>.*?</(script|style)>`)
	tag       = regexp.MustCompile(`(?s)<[a-zA-Z/!][^>]*>`)
	attr      = regexp.MustCompile(`(?s)\b(placeholder|title|alt|aria-label|data-confirm|label)\s*=\s*"([^"]*)"`)
	submitVal = regexp.MustCompile(`(?is)^<input\b[^>]*\btype\s*=\s*"(submit|button|reset)"[^>]*\bvalue\s*=\s*"([^"]*)"`)
	entity    = regexp.MustCompile(`&[a-zA-Z]+;|&#[0-9]+;`)
)

// untranslated lists the words of a template a person reads that are not
// in a t or tn call: text between tags and the readable attributes.
func untranslated(html string) []string {
	var out []string
	check := func(s string) {
		s = strings.TrimSpace(strings.ReplaceAll(entity.ReplaceAllString(s, " "), "\x00", " "))
		s = strings.ReplaceAll(s, "Gatehouse", "") // the product's name is not translated
		if strings.IndexFunc(s, unicode.IsLetter) >= 0 {
			out = append(out, strings.Join(strings.Fields(s), " "))
		}
	}
	html = rawBlock.ReplaceAllString(comment.ReplaceAllString(html, ""), "")
	last := 0
	for _, loc := range tag.FindAllStringIndex(html, -1) {
		check(html[last:loc[0]])
		t := html[loc[0]:loc[1]]
		for _, m := range attr.FindAllStringSubmatch(t, -1) {
			check(m[2])
		}
		if m := submitVal.FindStringSubmatch(t); m != nil {
			check(m[2])
		}
		last = loc[1]
	}
	check(html[last:])
	return out
}

// TestTemplatesHoldNoUntranslatedText fails on text a person reads in a
// template that is not in a t or tn call.
func TestTemplatesHoldNoUntranslatedText(t *testing.T) {
	templates, _ := filepath.Glob("../web/templates/*.html")
	for _, f := range templates {
		for _, n := range parseTemplate(t, f) {
			for _, s := range untranslated(textOf(n)) {
				t.Errorf("%s: %q is not in a {{t}} call", filepath.Base(f), s)
			}
		}
	}
}

func TestUntranslatedFindsText(t *testing.T) {
	for html, want := range map[string][]string{
		"<p>Devices</p>":                             {"Devices"},
		"<p>\x00</p>":                                nil,
		`<input placeholder="Search">`:               {"Search"},
		`<input placeholder="` + "\x00" + `">`:       nil,
		`<input type="submit" value="Save">`:         {"Save"},
		`<input type="hidden" name="a" value="b">`:   nil,
		`<button data-confirm="Sure?">` + "\x00</b>": {"Sure?"},
		"<script>var a = 'x';</script>":              nil,
		"<!-- a note -->&nbsp;·":                     nil,
		`<a title="Open">` + "\x00</a> of \x00":      {"Open", "of"},
		"Gatehouse":                                  nil,
	} {
		if got := untranslated(html); !slices.Equal(got, want) {
			t.Errorf("untranslated(%q) = %q, want %q", html, got, want)
		}
	}
}

func readCatalogs(t *testing.T) i18n.Catalogs {
	t.Helper()
	cats, err := i18n.ReadCatalogs(os.DirFS("catalogs"))
	if err != nil {
		t.Fatal(err)
	}
	return cats
}

// TestCatalogsHoldEveryKey: English holds every key the code uses (and no
// other), and every language holds exactly English's keys, with the plural
// forms its rules need and the same arguments as English.
func TestCatalogsHoldEveryKey(t *testing.T) {
	used := keysInUse(t)
	cats := readCatalogs(t)
	en := cats["en"]
	if *update {
		updateCatalogs(t, used, cats)
		cats = readCatalogs(t)
		en = cats["en"]
	}
	for k, u := range used {
		e, ok := en[k]
		switch {
		case !ok:
			t.Errorf("%s uses %q, which catalogs/en lacks (go test ./internal/i18n -run TestCatalogsHoldEveryKey -update adds it)", u.where, k)
		case u.plural && !e.Plural():
			t.Errorf("%s uses %q as a plural (tn, trn); catalogs/en has no plural forms for it", u.where, k)
		}
	}
	for k := range en {
		if _, ok := used[k]; !ok {
			t.Errorf("catalogs/en holds %q, which nothing uses", k)
		}
	}
	for _, l := range i18n.Languages {
		cat := cats[l.Tag]
		tag := language.MustParse(l.Tag)
		for k, want := range en {
			got, ok := cat[k]
			if !ok {
				t.Errorf("catalogs/%s lacks %q", l.Tag, k)
				continue
			}
			for _, msg := range checkEntry(tag, k, want, got) {
				t.Errorf("catalogs/%s, %q: %s", l.Tag, k, msg)
			}
		}
		for k := range cat {
			if _, ok := en[k]; !ok {
				t.Errorf("catalogs/%s holds %q, which English has not", l.Tag, k)
			}
		}
	}
}

// categories are the plural categories a language's integers fall in.
func categories(tag language.Tag) []string {
	names := map[plural.Form]string{plural.Zero: "zero", plural.One: "one", plural.Two: "two", plural.Few: "few", plural.Many: "many", plural.Other: "other"}
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		seen[names[plural.Cardinal.MatchPlural(tag, i, 0, 0, 0, 0)]] = true
	}
	var out []string
	for _, n := range []string{"zero", "one", "two", "few", "many", "other"} {
		if seen[n] {
			out = append(out, n)
		}
	}
	return out
}

var verb = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[a-zA-Z%]`)

// verbs are a message's formatting verbs by argument: the translation
// must use each argument English uses, with the same verb.
func verbs(s string) []string {
	var out []string
	i := 0
	for _, m := range verb.FindAllStringSubmatch(s, -1) {
		if m[0] == "%%" {
			continue
		}
		v := m[0][len(m[0])-1:]
		if m[1] != "" {
			i, _ = strconv.Atoi(strings.Trim(m[1], "[]"))
		} else {
			i++
		}
		out = append(out, fmt.Sprintf("%d%s", i, v))
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func checkEntry(tag language.Tag, key string, en, got i18n.Entry) []string {
	var msgs []string
	want := verbs(key)
	forms := map[string]string{"": got.Text}
	if en.Plural() {
		if !got.Plural() {
			return []string{"is a plural in English: give its forms"}
		}
		forms = got.Forms
		for _, c := range categories(tag) {
			if _, ok := got.Forms[c]; !ok {
				msgs = append(msgs, fmt.Sprintf("lacks the plural form %q", c))
			}
		}
		if _, ok := got.Forms["other"]; !ok && !slices.Contains(msgs, `lacks the plural form "other"`) {
			msgs = append(msgs, `lacks the plural form "other"`)
		}
	} else if got.Plural() {
		return []string{"is not a plural in English"}
	}
	for form, text := range forms {
		if strings.TrimSpace(text) == "" && strings.TrimSpace(key) != "" {
			msgs = append(msgs, fmt.Sprintf("form %q is empty", form))
			continue
		}
		g := verbs(text)
		// A plural form may leave out the count ("one device", "=0").
		if en.Plural() && !slices.Equal(g, want) && slices.Equal(g, slices.DeleteFunc(slices.Clone(want), func(v string) bool { return strings.HasPrefix(v, "1") })) {
			continue
		}
		if !slices.Equal(g, want) {
			msgs = append(msgs, fmt.Sprintf("form %q uses arguments %v, English %v", form, g, want))
		}
	}
	return msgs
}

// updateCatalogs adds the keys in use that English lacks to
// catalogs/en/<part>.json (English text as its own translation; a plural's
// forms both the key) and drops keys nothing uses from every catalog.
func updateCatalogs(t *testing.T, used map[string]use, cats i18n.Catalogs) {
	t.Helper()
	en := cats["en"]
	added := map[string]i18n.Entry{}
	for k, u := range used {
		if _, ok := en[k]; ok {
			continue
		}
		if u.plural {
			added[k] = i18n.Entry{Forms: map[string]string{"one": k, "other": k}}
		} else {
			added[k] = i18n.Entry{Text: k}
		}
	}
	if len(added) > 0 {
		writeCatalog(t, "catalogs/en/"+*part+".json", added, true)
	}
	files, _ := filepath.Glob("catalogs/*/*.json")
	for _, f := range files {
		part := readCatalog(t, f)
		n := len(part)
		for k := range part {
			if _, ok := used[k]; !ok {
				delete(part, k)
			}
		}
		if len(part) != n {
			writeCatalog(t, f, part, false)
		}
	}
}

func readCatalog(t *testing.T, f string) map[string]i18n.Entry {
	part := map[string]i18n.Entry{}
	if b, err := os.ReadFile(f); err == nil {
		if err := json.Unmarshal(b, &part); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return part
}

// writeCatalog writes a catalog file, keys sorted, merging into what the
// file holds when merge is set.
func writeCatalog(t *testing.T, f string, entries map[string]i18n.Entry, merge bool) {
	t.Helper()
	if merge {
		for k, e := range readCatalog(t, f) {
			entries[k] = e
		}
	}
	var b strings.Builder
	b.WriteString("{\n")
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(entries[k])
		fmt.Fprintf(&b, "  %s: %s", unescape(kb), unescape(vb))
		if i < len(keys)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unescape undoes json.Marshal's HTML escaping: translators read the files.
func unescape(b []byte) string {
	r := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")
	return r.Replace(string(b))
}
