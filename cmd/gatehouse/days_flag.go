package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// daysVar defines a flag on fs that reads whole days or a duration (a
// retention: "35d", "840h"), its default from the environment variable env.
func daysVar(fs *flag.FlagSet, getenv func(string) string, name, env string, def time.Duration, usage string) (*daysFlag, error) {
	f := &daysFlag{d: def}
	if v := getenv(env); v != "" {
		if err := f.Set(v); err != nil {
			return nil, fmt.Errorf("%s: %w", env, err)
		}
	}
	fs.Var(f, name, usage+" (env "+env+")")
	return f, nil
}

// availabilityRetentionFlag defines serve --availability-retention on fs,
// its default from GATEHOUSE_AVAILABILITY_RETENTION.
func availabilityRetentionFlag(fs *flag.FlagSet, getenv func(string) string) (*daysFlag, error) {
	return daysVar(fs, getenv, "availability-retention", "GATEHOUSE_AVAILABILITY_RETENTION", model.DefaultAvailabilityRetention,
		"how long devices' online / offline transitions are kept, at least 7 days: 35d, or a duration such as 840h")
}

// diagnosticsRetentionFlag defines serve --diagnostics-retention on fs,
// its default from GATEHOUSE_DIAGNOSTICS_RETENTION.
func diagnosticsRetentionFlag(fs *flag.FlagSet, getenv func(string) string) (*daysFlag, error) {
	return daysVar(fs, getenv, "diagnostics-retention", "GATEHOUSE_DIAGNOSTICS_RETENTION", usecase.DefaultDiagnosticsRetention,
		"how long diagnostics and their files are kept: 7d, or a duration such as 36h")
}

// daysFlag is a duration flag that also reads whole days ("35d"):
// serve's retentions.
type daysFlag struct{ d time.Duration }

func (f *daysFlag) String() string {
	if f.d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(f.d/(24*time.Hour))) + "d"
	}
	return f.d.String()
}

func (f *daysFlag) Set(s string) error {
	d, err := parseDays(s)
	if err != nil {
		return err
	}
	f.d = d
	return nil
}

// parseDays reads "35d" (days) or a Go duration ("840h").
func parseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 3650 {
			return 0, fmt.Errorf("%q is not a number of days such as 35d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration such as 35d or 840h", s)
	}
	return d, nil
}
