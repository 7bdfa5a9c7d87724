package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

const adminUsage = `Usage: gatehouse admin <task> [flags]

Tasks:
  create-account   create an account of any role (admin, distributor, subdistributor, installer)
  reset-password   set a new password for an account (and end its sessions)
  list-accounts    list accounts, optionally of one role
  add-firmware     add an entry to the firmware catalogue: an image file the cloud keeps (--file), or an external URL
  create-token     create a long-lived API token for an account
  enroll-keys      accept devices' keys delivered in advance by their maker ("MAC key" lines)
  migrate          apply database migrations (serve does this too)

Every task takes --data and --db. Run "gatehouse admin <task> -h" for its flags.
`

// runAdmin runs one administrative task as the system actor.
func runAdmin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, adminUsage)
		if len(args) == 0 {
			return errors.New("no admin task given")
		}
		return nil
	}
	task, args := args[0], args[1:]
	fs := newFlagSet("admin "+task, stderr, "admin "+task+" [flags]")
	var d dbFlags
	d.register(fs, getenv)
	var do func(ctx context.Context, st *store.Store) error
	switch task {
	case "create-account":
		var a model.Account
		var role, parent, password string
		fs.StringVar(&role, "role", "", "admin, distributor, subdistributor or installer (required)")
		fs.StringVar(&a.Username, "username", "", "login name (required)")
		fs.StringVar(&password, "password", getenv("GATEHOUSE_ADMIN_PASSWORD"), "password; generated and printed when empty (env GATEHOUSE_ADMIN_PASSWORD)")
		fs.StringVar(&parent, "parent", "", "login name of the parent account (required below admin)")
		fs.StringVar(&a.Name, "name", "", "display name")
		fs.StringVar(&a.Email, "email", "", "email address")
		fs.StringVar(&a.Phone, "phone", "", "phone number")
		fs.StringVar(&a.Company, "company", "", "company")
		fs.StringVar(&a.TimeZone, "time-zone", "", "installer: IANA time zone (default UTC)")
		fs.StringVar(&a.Language, "language", "", "installer: email language (en, zh-CN, es, de, fr, ru)")
		fs.BoolVar(&a.PaymentEnabled, "payment", false, "sub-distributor: switch the payment feature on")
		fs.BoolVar(&a.PayByDistributor, "pay-by-distributor", false, "sub-distributor: the distributor pays")
		do = func(ctx context.Context, st *store.Store) error {
			a.Role = model.Role(role)
			if parent != "" {
				p, _, err := st.AccountForLogin(ctx, parent)
				if err != nil {
					return fmt.Errorf("--parent %q: no such account", parent)
				}
				a.ParentID = p.ID
			} else if a.Role != model.RoleAdmin {
				return fmt.Errorf("--parent is required for a %s", role)
			}
			pw, hash, generated, err := newPassword(password)
			if err != nil {
				return err
			}
			if err := st.CreateAccount(ctx, &a, hash); err != nil {
				return describe(err)
			}
			fmt.Fprintf(stdout, "created %s %q (id %d)\n", a.Role.Label(), a.Username, a.ID)
			if generated {
				fmt.Fprintf(stdout, "password: %s\n", pw)
			}
			return nil
		}
	case "reset-password":
		var username, password string
		fs.StringVar(&username, "username", "", "login name (required)")
		fs.StringVar(&password, "password", getenv("GATEHOUSE_ADMIN_PASSWORD"), "new password; generated and printed when empty (env GATEHOUSE_ADMIN_PASSWORD)")
		do = func(ctx context.Context, st *store.Store) error {
			a, _, err := st.AccountForLogin(ctx, username)
			if err != nil {
				return fmt.Errorf("--username %q: no such account", username)
			}
			pw, hash, generated, err := newPassword(password)
			if err != nil {
				return err
			}
			if err := st.SetPassword(ctx, a.ID, hash); err != nil {
				return describe(err)
			}
			fmt.Fprintf(stdout, "password of %q reset; its sessions have ended\n", a.Username)
			if generated {
				fmt.Fprintf(stdout, "password: %s\n", pw)
			}
			return nil
		}
	case "list-accounts":
		var role string
		fs.StringVar(&role, "role", "", "only this role")
		do = func(ctx context.Context, st *store.Store) error {
			if role != "" && !model.Role(role).Valid() {
				return fmt.Errorf("--role must be admin, distributor, subdistributor or installer")
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tROLE\tUSERNAME\tNAME\tPARENT")
			for page := 1; ; page++ {
				l, err := st.ListAccounts(ctx, model.AccountFilter{Role: model.Role(role), Page: model.Page{Page: page, PerPage: model.MaxPerPage}})
				if err != nil {
					return err
				}
				for _, a := range l.Items {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\n", a.ID, a.Role, a.Username, a.Name, a.ParentID)
				}
				if page >= l.Pages() {
					break
				}
			}
			return tw.Flush()
		}
	case "add-firmware":
		var f model.Firmware
		var file string
		fs.StringVar(&f.Version, "version", "", "firmware version (required)")
		fs.StringVar(&f.Model, "model", "", "device model (required)")
		fs.StringVar(&f.ChangeLog, "change-log", "", "change log text")
		fs.StringVar(&file, "file", "", "the image file: the cloud keeps it and serves it to devices (its SHA-256 and size are computed); or give --file-url")
		fs.StringVar(&f.FileURL, "file-url", "", "http(s) URL of an image kept elsewhere (with --checksum)")
		fs.StringVar(&f.Checksum, "checksum", "", "SHA-256 of the image in hex (required with --file-url; with --file, checked)")
		fs.Int64Var(&f.Size, "size", 0, "with --file-url: the image's length in bytes, if known")
		maxBytes := fs.Int64("max-bytes", usecase.DefaultFirmwareMaxBytes, "with --file: the largest image accepted, in bytes")
		do = func(ctx context.Context, st *store.Store) error {
			if (file == "") == (f.FileURL == "") {
				return errors.New("give either --file (the cloud keeps the image) or --file-url (an image kept elsewhere)")
			}
			if file != "" {
				img, err := os.Open(file)
				if err != nil {
					return fmt.Errorf("--file: %w", err)
				}
				defer img.Close()
				if f.Size != 0 {
					return errors.New("--size goes with --file-url: the size of --file is measured")
				}
				cases := usecase.New(usecase.Deps{Store: st, FirmwareDir: filepath.Join(d.data, "firmware"), FirmwareMaxBytes: *maxBytes})
				if err := cases.UploadFirmware(ctx, &f, img); err != nil {
					return describe(err)
				}
				fmt.Fprintf(stdout, "added firmware %s for %s (id %d): %d bytes, sha256 %s, kept by the cloud\n", f.Version, f.Model, f.ID, f.Size, f.Checksum)
				return nil
			}
			if err := st.CreateFirmware(ctx, &f); err != nil {
				return describe(err)
			}
			fmt.Fprintf(stdout, "added firmware %s for %s (id %d)\n", f.Version, f.Model, f.ID)
			return nil
		}
	case "create-token":
		var username, name string
		var days int
		fs.StringVar(&username, "username", "", "account the token acts as (required)")
		fs.StringVar(&name, "name", "script", "a name to recognise the token by")
		fs.IntVar(&days, "expires-in-days", 0, "days until the token expires (0: never)")
		do = func(ctx context.Context, st *store.Store) error {
			a, _, err := st.AccountForLogin(ctx, username)
			if err != nil {
				return fmt.Errorf("--username %q: no such account", username)
			}
			if days < 0 || days > 3650 {
				return fmt.Errorf("--expires-in-days must be from 0 (never) to 3650")
			}
			cases := usecase.New(usecase.Deps{Store: st})
			tok, _, err := cases.CreateAPIToken(model.WithActor(ctx, model.ActorOf(a)), name, days)
			if err != nil {
				return describe(err)
			}
			fmt.Fprintln(stdout, tok)
			return nil
		}
	case "enroll-keys":
		var path string
		fs.StringVar(&path, "file", "", `file of "MAC key" lines (required); "-" reads standard input`)
		do = func(ctx context.Context, st *store.Store) error {
			keys, err := readKeyFile(path)
			if err != nil {
				return err
			}
			n, err := st.EnrollDeviceKeys(ctx, keys)
			if err != nil {
				return describe(err)
			}
			fmt.Fprintf(stdout, "%d keys accepted; %d devices were unknown or had a key already\n", n, len(keys)-n)
			return nil
		}
	case "migrate":
		do = func(ctx context.Context, st *store.Store) error {
			fmt.Fprintln(stdout, "database is up to date")
			return nil // Open migrated it
		}
	default:
		fmt.Fprint(stderr, adminUsage)
		return fmt.Errorf("unknown admin task %q", task)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	st, err := openStore(ctx, d)
	if err != nil {
		return err
	}
	defer st.Close()
	return do(model.WithActor(ctx, model.System), st)
}

// newPassword validates pw, or generates one when it is empty, and hashes it.
func newPassword(pw string) (password, hash string, generated bool, err error) {
	if pw == "" {
		pw, generated = auth.NewToken()[:20], true
	}
	var v model.Validator
	model.ValidatePassword(&v, "password", pw)
	if err := v.Err(); err != nil {
		return "", "", false, describe(err)
	}
	hash, err = auth.HashPassword(pw)
	return pw, hash, generated, err
}

// describe turns a domain error into a message naming each bad flag.
func describe(err error) error {
	if model.ErrorCode(err) == model.EINTERNAL {
		return err
	}
	fields := model.ErrorFields(err)
	if len(fields) == 0 {
		return errors.New(model.ErrorMessage(err))
	}
	var parts []string
	for f, m := range fields {
		switch f {
		case "parent_id":
			f = "parent"
		case "sha256":
			f = "checksum"
		}
		parts = append(parts, fmt.Sprintf("--%s %s", strings.ReplaceAll(f, "_", "-"), m))
	}
	return errors.New(strings.Join(parts, "; "))
}

// maxKeyFile bounds an enroll-keys file: a million "MAC key" lines.
const maxKeyFile = 160 << 20

// readKeyFile reads "MAC key" lines (a space, tab or comma between; # starts
// a comment) into MAC → key, naming the line of any error. Keys are checked
// by the store.
func readKeyFile(path string) (map[string]string, error) {
	if path == "" {
		return nil, errors.New("--file is required")
	}
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("--file %s: larger than %d MiB", path, maxKeyFile>>20)
	}
	keys := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' })
		if len(f) == 0 {
			continue
		}
		m, ok := model.NormalizeMAC(f[0])
		if len(f) != 2 || !ok {
			return nil, fmt.Errorf("--file %s: line %d: want a MAC and a key", path, i+1)
		}
		if _, dup := keys[m]; dup {
			return nil, fmt.Errorf("--file %s: line %d: %s is repeated", path, i+1, m)
		}
		keys[m] = f[1]
	}
	return keys, nil
}
