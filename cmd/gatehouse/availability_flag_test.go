package main

import (
	"testing"
	"time"
)

func TestParseDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"35d": 35 * 24 * time.Hour, "7d": 7 * 24 * time.Hour, "840h": 840 * time.Hour} {
		if got, err := parseDays(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-3d", "0d", "3.5d", "99999d", "soon", "-1h"} {
		if _, err := parseDays(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
