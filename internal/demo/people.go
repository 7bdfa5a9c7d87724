package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

func (g *gen) endUsers(ctx context.Context, comms []*community, offices []*office, homes []*home) error {
	uid, err := g.nextID(ctx, "end_users")
	if err != nil {
		return err
	}
	users := g.batch(ctx, "end_users", "id", "installer_id", "project_id", "apartment_id", "department_id", "role", "family_master_id",
		"name", "sip", "email", "mobile", "phone", "address", "active", "premium", "created_at", "app_expires_at", "premium_expires_at",
		"project_kind", "distributor_id", "subdistributor_id")
	// The end-user lists' columns: the project's kind and the distributor
	// and sub-distributor above the installer.
	above := make(map[int64]*model.Account, len(g.installers))
	for _, inst := range g.installers {
		above[inst.ID] = inst
	}
	kind := model.ProjectCommunity
	sip := 600000000
	// surname: the family's name (community apartments); force: never
	// activated (inactive), or active (and premium for a villa master)
	// whatever the draws, so every Subscriptions flow has users whatever the seed.
	add := func(installer, project, aptID, deptID int64, role model.EndUserRole, master int64, address string, villa bool,
		surname string, force forced) (int64, error) {
		name := g.person()
		if surname != "" {
			name = strings.Fields(name)[0] + " " + surname
		}
		id := uid
		uid++
		sip++
		created := g.o.Now.Add(-time.Duration(g.rng.IntN(700*24)) * time.Hour)
		active := (g.rng.IntN(100) < 85 || force == forceActive) && force != forceInactive
		var appExp, premExp any
		if active {
			// Some services are expired, some expire soon, most run for months.
			appExp = g.o.Now.Add(time.Duration(g.rng.IntN(500)-60) * 24 * time.Hour)
		}
		premium := villa && role == model.FamilyMaster && (g.rng.IntN(100) < 30 || force == forceActive) && active
		if premium {
			premExp = g.o.Now.Add(time.Duration(g.rng.IntN(400)-30) * 24 * time.Hour)
		}
		email := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + fmt.Sprintf("%d@mail.example", id)
		phone := ""
		if g.rng.IntN(3) == 0 {
			phone = g.phone()
		}
		var m any
		if master != 0 {
			m = master
		}
		return id, users.add(id, installer, project, nullable(aptID), nullable(deptID), role, m, name, fmt.Sprint(sip), email,
			g.phone(), phone, address, active, premium, created, appExp, premExp,
			kind, nullable(above[installer].DistributorID), nullable(above[installer].SubdistributorID))
	}
	total := g.o.Users
	nComm, nOffice := total*60/100, total*25/100
	nVilla := total - nComm - nOffice
	// A property manager for each community: each installer's first one
	// active, its second not yet activated.
	for i, c := range comms {
		id, err := add(c.installer, c.project, 0, 0, model.PropertyManager, 0, "", false, "", forceActive+forced(i%2))
		if err != nil {
			return err
		}
		c.managerID = id
	}
	var allApts []*apt
	for _, c := range comms {
		for i := range c.apts {
			allApts = append(allApts, &c.apts[i])
		}
	}
	aptOwner := map[*apt]*community{}
	for _, c := range comms {
		for i := range c.apts {
			aptOwner[&c.apts[i]] = c
		}
	}
	// Every fifth community user is a family member of the apartment before:
	// the Subscriptions module's additional family members.
	for i := 0; i < nComm && len(allApts) > 0; i++ {
		a := allApts[(i-(i+1)/5)%len(allApts)]
		c := aptOwner[a]
		role, master := model.FamilyMaster, int64(0)
		if a.master != 0 {
			role, master = model.FamilyMember, a.master
		}
		id, err := add(c.installer, c.project, a.id, 0, role, master, a.label, false, a.surname, drawn)
		if err != nil {
			return err
		}
		if a.master == 0 {
			a.master = id
		}
	}
	kind = model.ProjectOffice
	var depts [][2]int64 // office project, department
	var deptInst []int64
	for _, o := range offices {
		for _, d := range o.departments {
			depts = append(depts, [2]int64{o.project, d})
			deptInst = append(deptInst, o.installer)
		}
	}
	for i := 0; i < nOffice && len(depts) > 0; i++ {
		j := i % len(depts)
		if _, err := add(deptInst[j], depts[j][0], 0, depts[j][1], model.OfficeStaff, 0, "", false, "", drawn); err != nil {
			return err
		}
	}
	kind = model.ProjectPersonal
	// Each installer's third home has not activated its villa app yet, its
	// master nor its extra family members; its first home's master has the
	// premium plan.
	for i := 0; i < nVilla && len(homes) > 0; i++ {
		h := homes[i%len(homes)]
		role, master := model.FamilyMaster, int64(0)
		if h.master != 0 {
			role, master = model.FamilyMember, h.master
		}
		id, err := add(h.installer, h.project, 0, 0, role, master, h.address, true, "", villaForce(i%len(homes), role))
		if err != nil {
			return err
		}
		if h.master == 0 {
			h.master = id
		}
	}
	if err := users.flush(); err != nil {
		return err
	}
	g.res.EndUsers = users.n
	fmt.Fprintf(g.out, "end users: %d\n", users.n)
	return nil
}

// forced overrides the draws of a demo user's state.
type forced int

const (
	drawn         forced = iota
	forceActive          // active (a villa master: with the premium plan)
	forceInactive        // never activated
)

// villaForce: the home at index h (homes come three per installer).
func villaForce(h int, role model.EndUserRole) forced {
	switch {
	case h%3 == 2:
		return forceInactive
	case h%3 == 0 && role == model.FamilyMaster:
		return forceActive
	}
	return drawn
}

func nullable(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func (g *gen) devices(ctx context.Context, comms []*community, offices []*office, homes []*home) error {
	devid, err := g.nextID(ctx, "devices")
	if err != nil {
		return err
	}
	devs := g.batch(ctx, "devices", "id", "mac", "installer_id", "project_id", "building_id", "apartment_id", "department_id",
		"owner_id", "type", "model", "name", "sip", "firmware", "location", "online", "last_seen", "created_at",
		"project_kind", "distributor_id", "subdistributor_id")
	// The device lists' columns: the project's kind and the distributor and
	// sub-distributor above the installer.
	above := make(map[int64]*model.Account, len(g.installers))
	for _, inst := range g.installers {
		above[inst.ID] = inst
	}
	kind := model.ProjectCommunity
	sip := 700000000
	add := func(installer, project, building, aptID, dept, owner int64, t model.DeviceType, name, location string) error {
		m := modelFor(t, g.rng.IntN(8))
		id := devid
		devid++
		sip++
		online := g.rng.IntN(100) < 72
		last := g.o.Now.Add(-time.Duration(g.rng.IntN(30*24*60)) * time.Minute)
		if online {
			last = g.o.Now.Add(-time.Duration(g.rng.IntN(120)) * time.Second)
		}
		return devs.add(id, fmt.Sprintf("0C1105%06X", id), installer, project, nullable(building), nullable(aptID), nullable(dept),
			nullable(owner), t, m.name, name, fmt.Sprint(sip), fmt.Sprintf("%s.%d.%d.%d", m.prefix, 30+g.rng.IntN(2), g.rng.IntN(3), 10+g.rng.IntN(25)),
			location, online, last, g.o.Now.Add(-time.Duration(g.rng.IntN(600*24))*time.Hour),
			kind, nullable(above[installer].DistributorID), nullable(above[installer].SubdistributorID))
	}
	n := g.o.Devices
	nComm, nOffice := n*55/100, n*20/100
	nPersonal := n - nComm - nOffice
	for i := 0; i < nComm && len(comms) > 0; i++ {
		c := comms[i%len(comms)]
		j := i / len(comms)
		var err error
		if j < len(c.buildings) {
			// First the entrance door phones, one per building...
			err = add(c.installer, c.project, c.buildings[j], 0, 0, 0, model.DoorPhone, fmt.Sprintf("Entrance %c", 'A'+j%26), fmt.Sprintf("Building %c%d", 'A'+j%26, j/26+1))
		} else if j == len(c.buildings) {
			err = add(c.installer, c.project, 0, 0, 0, 0, model.AccessControl, "Main gate", "Main gate")
		} else {
			// ...then an indoor monitor per apartment.
			a := c.apts[(j-len(c.buildings)-1)%len(c.apts)]
			err = add(c.installer, c.project, a.building, a.id, 0, a.master, model.IndoorMonitor, "Monitor "+a.label, a.label)
		}
		if err != nil {
			return err
		}
	}
	kind = model.ProjectOffice
	for i := 0; i < nOffice && len(offices) > 0; i++ {
		o := offices[i%len(offices)]
		j := i / len(offices)
		d := j % len(o.departments)
		t := []model.DeviceType{model.DoorPhone, model.AccessControl, model.IndoorMonitor, model.GuardPhone}[j%4]
		if err := add(o.installer, o.project, 0, 0, o.departments[d], 0, t, fmt.Sprintf("%s %s", o.deptNames[d], typeLabel(t)), o.deptNames[d]); err != nil {
			return err
		}
	}
	kind = model.ProjectPersonal
	for i := 0; i < nPersonal && len(homes) > 0; i++ {
		h := homes[i%len(homes)]
		j := i / len(homes)
		t := []model.DeviceType{model.DoorPhone, model.IndoorMonitor}[j%2]
		if err := add(h.installer, h.project, 0, 0, 0, h.master, t, typeLabel(t), []string{"Front door", "Living room", "Garage", "Kitchen"}[j%4]); err != nil {
			return err
		}
	}
	if err := devs.flush(); err != nil {
		return err
	}
	g.res.Devices = devs.n
	fmt.Fprintf(g.out, "devices: %d\n", devs.n)

	tid, err := g.nextID(ctx, "third_party_devices")
	if err != nil {
		return err
	}
	cams := g.batch(ctx, "third_party_devices", "id", "installer_id", "project_id", "owner_id", "kind", "name", "stream_url", "username", "password", "created_at")
	addCam := func(installer, project, owner int64, name string) error {
		id := tid
		tid++
		url := fmt.Sprintf("rtsp://10.%d.%d.%d:554/stream1", g.rng.IntN(255), g.rng.IntN(255), 2+g.rng.IntN(250))
		// The bulk rows are written as they are: seal the credentials here,
		// as the store does for every camera it adds.
		user, err := g.st.EncryptSecret("admin")
		if err != nil {
			return fmt.Errorf("camera credentials: %w", err)
		}
		pass, err := g.st.EncryptSecret(fmt.Sprintf("cam-%08x", g.rng.Uint32()))
		if err != nil {
			return fmt.Errorf("camera credentials: %w", err)
		}
		return cams.add(id, installer, project, nullable(owner), "camera", name, url, user, pass,
			g.o.Now.Add(-time.Duration(g.rng.IntN(300*24))*time.Hour))
	}
	for _, c := range comms {
		if err := addCam(c.installer, c.project, 0, "Parking camera"); err != nil {
			return err
		}
	}
	for i, h := range homes {
		if i%3 == 0 && h.master != 0 {
			if err := addCam(h.installer, h.project, h.master, "Garden camera"); err != nil {
				return err
			}
		}
	}
	if err := cams.flush(); err != nil {
		return err
	}
	g.res.ThirdParty = cams.n
	fmt.Fprintf(g.out, "third-party cameras: %d\n", cams.n)
	return nil
}

func typeLabel(t model.DeviceType) string {
	switch t {
	case model.DoorPhone:
		return "Door phone"
	case model.IndoorMonitor:
		return "Indoor monitor"
	case model.AccessControl:
		return "Access control"
	}
	return "Guard phone"
}

type deviceModel struct {
	name, prefix string
	t            model.DeviceType
}

var models = []deviceModel{
	{"R29", "29", model.DoorPhone}, {"R20", "20", model.DoorPhone}, {"E16", "116", model.DoorPhone},
	{"X915", "2915", model.DoorPhone}, {"C315", "115", model.IndoorMonitor}, {"C319", "119", model.IndoorMonitor},
	{"IT83", "83", model.IndoorMonitor}, {"A05", "105", model.AccessControl}, {"A08", "108", model.AccessControl},
	{"R27", "27", model.GuardPhone},
}

func modelFor(t model.DeviceType, n int) deviceModel {
	var of []deviceModel
	for _, m := range models {
		if m.t == t {
			of = append(of, m)
		}
	}
	return of[n%len(of)]
}
