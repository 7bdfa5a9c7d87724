package store

import (
	"slices"
	"testing"
)

// TestTrigramNeedles: the parts of an email or mobile text the trigram
// index is asked for are parts of the text (so each finds every user the
// text does), the distinctive ones first, the text itself last, each long
// enough to look up.
func TestTrigramNeedles(t *testing.T) {
	for _, c := range []struct {
		col, text string
		want      []string
	}{
		{"email", "anna.smith12@mail.example", []string{"anna.smith12", "anna.smith12@mail.example"}},
		{"email", "anna.smith1985@mail.example", []string{"1985", "anna.smith1985", "anna.smith1985@mail.example"}},
		{"email", "hugo.lindqvist155068", []string{"155068", "hugo.lindqvist155068"}},
		{"email", "12345", []string{"12345"}},
		{"email", "ab@mail.example", []string{"ab@mail.example"}}, // too short to look up: the whole text
		{"email", "mail.example", []string{"mail.example"}},
		{"email", "ab", nil},
		{"mobile", "+49 30 1234 5678", []string{"5678", "+49 30 1234 5678"}},
		{"mobile", "+1 (555) 010-20", []string{"010", "+1 (555) 010-20"}},
		{"mobile", "0 012 3", []string{"012", "0 012 3"}},
		{"mobile", "12", nil},
		{"mobile", "5678", []string{"5678"}},
		{"name", "anna smith", []string{"anna smith"}},
	} {
		if got := trigramNeedles(c.col, c.text); !slices.Equal(got, c.want) {
			t.Errorf("trigramNeedles(%s, %q) = %q, want %q", c.col, c.text, got, c.want)
		}
	}
}
