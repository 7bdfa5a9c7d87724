package main

import (
	"flag"
	"strings"
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

// Both retentions of serve read days from the flag and the environment,
// and a bad environment value is refused naming the variable.
func TestRetentionFlagsReadDays(t *testing.T) {
	env := map[string]string{"GATEHOUSE_DIAGNOSTICS_RETENTION": "14d"}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	diag, err := diagnosticsRetentionFlag(fs, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	avail, err := availabilityRetentionFlag(fs, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if diag.d != 14*24*time.Hour || avail.d != 35*24*time.Hour {
		t.Errorf("from the environment: diagnostics %v, availability %v", diag.d, avail.d)
	}
	if err := fs.Parse([]string{"--diagnostics-retention", "3d", "--availability-retention", "60d"}); err != nil {
		t.Fatal(err)
	}
	if diag.d != 3*24*time.Hour || avail.d != 60*24*time.Hour {
		t.Errorf("from the flags: diagnostics %v, availability %v", diag.d, avail.d)
	}
	env["GATEHOUSE_DIAGNOSTICS_RETENTION"] = "a week"
	if _, err := diagnosticsRetentionFlag(flag.NewFlagSet("serve", flag.ContinueOnError), func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_DIAGNOSTICS_RETENTION") {
		t.Errorf("a bad environment value: %v", err)
	}
}
