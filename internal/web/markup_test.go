package web

import (
	"fmt"
	"strings"
	"testing"
)

// A message with markup: the elements markTag makes are HTML, everything
// else of the message and its arguments is escaped.
func TestMarkedKeepsOnlyItsOwnElements(t *testing.T) {
	name := markupTag("strong", `<b>Eve</b> & "co"`)
	link := markupTag("a", "give one", "href", `/account/email?x="1"&y=2`)
	got := string(markupHTML(fmt.Sprintf("Signed in as %s <i>(%s)</i>: %s.", name, "<script>x</script>", link)))
	want := `Signed in as <strong>&lt;b&gt;Eve&lt;/b&gt; &amp; &#34;co&#34;</strong> &lt;i&gt;(&lt;script&gt;x&lt;/script&gt;)&lt;/i&gt;: ` +
		`<a href="/account/email?x=&#34;1&#34;&amp;y=2">give one</a>.`
	if got != want {
		t.Errorf("marked:\n got %s\nwant %s", got, want)
	}
	// An argument that imitates the marker without knowing it stays text.
	forged := "\x1e<img src=x onerror=alert(1)>\x1e"
	if got := string(markupHTML("Hello " + forged + ".")); strings.Contains(got, "<img") {
		t.Errorf("a forged marker let markup in: %s", got)
	}
	// An element cut off (a translation that drops the closing marker) is text.
	if got := string(markupHTML("a " + markupMark + "<b>x</b>")); strings.Contains(got, "<b>") {
		t.Errorf("an unclosed marker let markup in: %s", got)
	}
}

func TestBreakLines(t *testing.T) {
	if got := string(lineBreaks("Pay by\n<Distributor>")); got != "Pay by<br>&lt;Distributor&gt;" {
		t.Errorf("breakLines: %s", got)
	}
}
