package store

import "testing"

// TestTrigramNeedle: the part of an email or mobile text SQLite's trigram
// table is asked for is a part of the text (so it finds every user the
// text does), and the distinctive one.
func TestTrigramNeedle(t *testing.T) {
	for _, c := range []struct{ col, text, want string }{
		{"email", "anna.smith12@mail.example", "anna.smith12"},
		{"email", "ab@mail.example", "ab@mail.example"}, // too short to look up: the whole text
		{"email", "mail.example", "mail.example"},
		{"mobile", "+49 30 1234 5678", "5678"},
		{"mobile", "+1 (555) 010-20", "010"},
		{"mobile", "0 012 3", "012"},
		{"mobile", "12", "12"},
		{"name", "anna smith", "anna smith"},
	} {
		if got := trigramNeedle(c.col, c.text); got != c.want {
			t.Errorf("trigramNeedle(%s, %q) = %q, want %q", c.col, c.text, got, c.want)
		}
	}
}
