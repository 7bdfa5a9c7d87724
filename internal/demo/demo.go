// Package demo fills an empty database with a realistic, deterministic data
// set: the same options always give the same rows.
package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Options size the data set.
type Options struct {
	Password string // of every demo account
	Users    int    // end users, about
	Devices  int    // devices, about
	Seed     uint64
	Now      time.Time // the data set's "today"
}

// Defaults of the demo data set.
const (
	DefaultUsers        = 10_000
	DefaultDevices      = 5_000
	distributors        = 2
	subsPerDistributor  = 3
	installersPerSub    = 20
	communitiesPerInst  = 2
	officesPerInst      = 1
	homesPerInst        = 3
	buildingsPerCommty  = 3
	floorsPerBuilding   = 4
	aptsPerFloor        = 4
	departmentsPerOffic = 3
	chunk               = 20_000 // rows per bulk transaction
	macsPerInstaller    = 4
)

// Well-known logins of the demo data set.
const (
	AdminUser          = "demo-admin"
	DistributorUser    = "demo-distributor"
	SubdistributorUser = "demo-subdistributor"
	InstallerUser      = "demo-installer"
)

// Result tells what was created.
type Result struct {
	Accounts, Projects, EndUsers, Devices, ThirdParty, Firmware, LibraryMACs int
}

// Load fills st, which must hold no accounts, and writes progress to out.
func Load(ctx context.Context, st *store.Store, o Options, out io.Writer) (*Result, error) {
	ctx = model.WithActor(ctx, model.System)
	if n, err := st.CountAccounts(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, model.Errorf(model.ECONFLICT, "The database already holds %d accounts: the demo fills only an empty database. Use a new --data directory or database.", n)
	}
	if o.Users <= 0 {
		o.Users = DefaultUsers
	}
	if o.Devices <= 0 {
		o.Devices = DefaultDevices
	}
	if o.Now.IsZero() {
		o.Now = time.Now().UTC().Truncate(time.Second)
	}
	g := &gen{st: st, o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x6a7e)), out: out, res: &Result{}}
	hash, err := auth.HashPassword(o.Password)
	if err != nil {
		return nil, err
	}
	if err := g.accounts(ctx, hash); err != nil {
		return nil, err
	}
	if err := g.firmware(ctx); err != nil {
		return nil, err
	}
	if err := g.firmwareImage(ctx); err != nil {
		return nil, err
	}
	if err := g.projects(ctx); err != nil {
		return nil, err
	}
	if err := g.macLibrary(ctx); err != nil {
		return nil, err
	}
	if err := g.pendingKeys(ctx); err != nil {
		return nil, err
	}
	if err := LoadBilling(ctx, st, BillingOptions{Seed: o.Seed, Now: o.Now}); err != nil {
		return nil, err
	}
	if err := LoadAutoP(ctx, st, out); err != nil {
		return nil, err
	}
	if err := st.Analyze(model.WithActor(ctx, model.System)); err != nil {
		return nil, err
	}
	return g.res, nil
}

type gen struct {
	st         *store.Store
	o          Options
	rng        *rand.Rand
	out        io.Writer
	res        *Result
	installers []*model.Account
	admin      *model.Account
}

func (g *gen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *gen) account(ctx context.Context, a *model.Account, hash string) error {
	if err := g.st.CreateAccount(ctx, a, hash); err != nil {
		return fmt.Errorf("create %s: %w", a.Username, err)
	}
	g.res.Accounts++
	return nil
}

func (g *gen) accounts(ctx context.Context, hash string) error {
	admin := &model.Account{Role: model.RoleAdmin, Username: AdminUser, Name: "Platform Admin", Email: "admin@gatehouse.example"}
	if err := g.account(ctx, admin, hash); err != nil {
		return err
	}
	g.admin = admin
	for d := 0; d < distributors; d++ {
		dist := &model.Account{Role: model.RoleDistributor, ParentID: admin.ID, Username: fmt.Sprintf("distributor-%d", d+1),
			Name: distributorNames[d], Company: distributorNames[d], Email: fmt.Sprintf("sales@distributor%d.example", d+1), Phone: g.phone()}
		if d == 0 {
			dist.Username = DistributorUser
		}
		if err := g.account(ctx, dist, hash); err != nil {
			return err
		}
		for s := 0; s < subsPerDistributor; s++ {
			name := subNames[d*subsPerDistributor+s]
			sub := &model.Account{Role: model.RoleSubdistributor, ParentID: dist.ID, Username: fmt.Sprintf("subdistributor-%d-%d", d+1, s+1),
				Name: name, Company: name, Email: fmt.Sprintf("office@sub%d%d.example", d+1, s+1), Phone: g.phone(),
				PaymentEnabled: s != 2, PayByDistributor: s == 1}
			if d == 0 && s == 0 {
				sub.Username = SubdistributorUser
			}
			if err := g.account(ctx, sub, hash); err != nil {
				return err
			}
			cs := &model.CustomerService{Email: fmt.Sprintf("support@sub%d%d.example", d+1, s+1), Phone: g.phone(),
				Other: "Support hours: Mon–Fri 8:00–18:00", ReceiveFeedback: s != 2, Language: "en"}
			if cs.ReceiveFeedback {
				cs.FeedbackEmail = fmt.Sprintf("feedback@sub%d%d.example", d+1, s+1)
			}
			if err := g.st.PutCustomerService(ctx, sub.ID, cs); err != nil {
				return fmt.Errorf("customer service of %s: %w", sub.Username, err)
			}
			for i := 0; i < installersPerSub; i++ {
				company := fmt.Sprintf("%s %s", g.pick(lastNames), g.pick(installerSuffixes))
				inst := &model.Account{Role: model.RoleInstaller, ParentID: sub.ID, Username: fmt.Sprintf("installer-%d-%d-%02d", d+1, s+1, i+1),
					Name: company, Company: company, Email: fmt.Sprintf("team@installer%d%d%02d.example", d+1, s+1, i+1), Phone: g.phone(),
					Business: []string{model.BusinessIntercom, model.BusinessSmartHome}[i%2], TimeZone: g.pick(timeZones),
					Language: model.Languages[i%len(model.Languages)], ChargeMode: []string{model.ChargeInstaller, model.ChargeEndUser}[i%2],
					ConnectType: []string{model.ConnectDefault, model.ConnectUDP, model.ConnectTCP, model.ConnectTLS}[i%4], RTPConfusion: i%7 == 3,
					AccessWithoutPassword: i%3 == 1} // demo-installer (i == 0) starts with it off
				if d == 0 && s == 0 && i == 0 {
					inst.Username = InstallerUser
				}
				if err := g.account(ctx, inst, hash); err != nil {
					return err
				}
				g.installers = append(g.installers, inst)
			}
		}
	}
	fmt.Fprintf(g.out, "accounts: %d\n", g.res.Accounts)
	// A little feedback from the first installers to demo-subdistributor.
	for i, f := range demoFeedback {
		inst := g.installers[1+i%3]
		ictx := model.WithActor(ctx, model.ActorOf(inst))
		if _, err := g.st.CreateFeedback(ictx, &model.Feedback{Subject: f[0], Message: f[1]}); err != nil {
			return fmt.Errorf("demo feedback: %w", err)
		}
	}
	return nil
}

var demoFeedback = [][2]string{
	{"Door phone firmware", "Is the new R29 firmware safe to roll out to a community of 300 flats, or should we wait?"},
	{"Invoice address", "Please put our new company address on the next invoices."},
	{"Training", "Could you run a session on batch AutoP for our two new technicians?"},
}

// The image the demo stores for the simulator's model, so that a new user
// can roll it out to the simulated devices of `make run` at once.
const (
	DemoImageModel   = "R29C" // what `gatehouse devicesim` reports by default
	DemoImageVersion = "29.31.0.1"
	demoImageSize    = 256 << 10
)

// firmwareImage stores a small image for DemoImageModel, as the admin would
// upload it.
func (g *gen) firmwareImage(ctx context.Context) error {
	img := make([]byte, demoImageSize)
	r := rand.New(rand.NewPCG(g.o.Seed, 0x1f1a))
	for i := range img {
		img[i] = byte(r.Uint32())
	}
	f := &model.Firmware{Version: DemoImageVersion, Model: DemoImageModel,
		ChangeLog: "Demo image kept by the cloud: roll it out to the simulated devices (Firmware → this version → Upgrade)."}
	if err := g.st.CreateFirmwareImage(model.WithActor(ctx, model.ActorOf(g.admin)), f, bytes.NewReader(img), demoImageSize); err != nil {
		return fmt.Errorf("demo firmware image: %w", err)
	}
	g.res.Firmware++
	return nil
}

// firmware loads the catalogue with release dates spread over two years, as
// a real catalogue has (CreateFirmware would stamp them all "now").
func (g *gen) firmware(ctx context.Context) error {
	id, err := g.nextID(ctx, "firmware")
	if err != nil {
		return err
	}
	fw := g.batch(ctx, "firmware", "id", "version", "model", "change_log", "file_url", "checksum", "size", "created_at")
	const releases = 4
	for i, m := range models {
		for v := 0; v < releases; v++ {
			version := fmt.Sprintf("%s.%d.%d.%d", m.prefix, 30+v/2, v%2, 10+v*7+i)
			sum := sha256.Sum256([]byte(m.name + version))
			age := time.Duration((releases-v)*150+i*7) * 24 * time.Hour
			if err := fw.add(id, version, m.name, changeLogs[(i+v)%len(changeLogs)],
				fmt.Sprintf("https://firmware.gatehouse.example/%s/%s.rom", m.name, version), hex.EncodeToString(sum[:]),
				int64(18<<20+g.rng.IntN(40<<20)), g.o.Now.Add(-age)); err != nil {
				return err
			}
			id++
		}
	}
	if err := fw.flush(); err != nil {
		return err
	}
	g.res.Firmware = fw.n
	fmt.Fprintf(g.out, "firmware: %d\n", g.res.Firmware)
	return nil
}

func (g *gen) phone() string {
	return fmt.Sprintf("+%d %d %04d %04d", 1+g.rng.IntN(98), 10+g.rng.IntN(89), g.rng.IntN(10000), g.rng.IntN(10000))
}

func (g *gen) person() string { return g.pick(firstNames) + " " + g.pick(lastNames) }

// macLibrary gives every installer a few MACs registered for single tenants
// that no device uses yet.
func (g *gen) macLibrary(ctx context.Context) error {
	id, err := g.nextID(ctx, "installer_macs")
	if err != nil {
		return err
	}
	macs := g.batch(ctx, "installer_macs", "id", "installer_id", "mac", "name", "created_at")
	for i, inst := range g.installers {
		for j := 0; j < macsPerInstaller; j++ {
			if err := macs.add(id, inst.ID, fmt.Sprintf("0C110C%04X%02X", i, j), fmt.Sprintf("Villa kit %d", j+1),
				g.o.Now.Add(-time.Duration(1+g.rng.IntN(90))*24*time.Hour)); err != nil {
				return err
			}
			id++
		}
	}
	if err := macs.flush(); err != nil {
		return err
	}
	g.res.LibraryMACs = macs.n
	fmt.Fprintf(g.out, "MAC library entries: %d\n", macs.n)
	return nil
}
