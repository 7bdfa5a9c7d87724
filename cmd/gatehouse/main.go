// Command gatehouse is the whole Gatehouse platform in one binary:
//
//	gatehouse serve      the portal, JSON API, device gateway, AutoP server, /healthz and /metrics
//	gatehouse admin      accounts, passwords, firmware, API tokens, migrations
//	gatehouse demo       fill an empty database with a realistic data set
//	gatehouse devicesim  simulated devices speaking the device protocol
//	gatehouse sandbox    a local payment sandbox (PayPal fake, stripe-mock)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}

const usage = `Usage: gatehouse <command> [flags]

Commands:
  serve      run the portal, the JSON API, the device gateway, the AutoP server, /healthz and /metrics
  admin      manage accounts, passwords, firmware and API tokens from the shell
  demo       fill an empty database with demo data
  devicesim  connect simulated devices to a server (docs/device-protocol.md)
  sandbox    the payment sandbox (PayPal fake, stripe-mock) for make run PAYMENTS=sandbox

Run "gatehouse <command> -h" for the flags of a command.
`

// run is main without the process: tests call it with their own args and env.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "admin":
		return runAdmin(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "devicesim":
		return runDevicesim(ctx, args[1:], getenv, stdout, stderr)
	case "sandbox":
		return runSandbox(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// dbFlags are the storage flags every command shares.
type dbFlags struct {
	data      string
	db        string
	secretKey string
}

func (d *dbFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&d.data, "data", envOr(getenv, "GATEHOUSE_DATA", "./data"), "data directory: SQLite database, mail outbox (env GATEHOUSE_DATA)")
	fs.StringVar(&d.db, "db", getenv("GATEHOUSE_DB"), "database: a postgres:// URL, or a SQLite file (default <data>/gatehouse.db) (env GATEHOUSE_DB)")
	// Secret from the environment only: a flag would show in the process list.
	d.secretKey = getenv("GATEHOUSE_SECRET_KEY")
}

func envOr(getenv func(string) string, key, def string) string {
	if v := strings.TrimSpace(getenv(key)); v != "" {
		return v
	}
	return def
}

func newFlagSet(name string, stderr io.Writer, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gatehouse %s\n\n", help)
		fs.PrintDefaults()
	}
	return fs
}
