package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// community is the in-memory skeleton the users and devices are hung on.
type community struct {
	project   int64
	installer int64
	buildings []int64
	apts      []apt
	managerID int64
}

type apt struct {
	id, building int64
	label        string
	surname      string // the family's: the apartment's name is "<surname> family"
	master       int64  // first user placed there
	members      int
}

type office struct {
	project, installer int64
	departments        []int64
	deptNames          []string
}

type home struct {
	project, installer int64
	master             int64
	members            int
	address            string
}

// batch collects rows for one table and flushes them in bulk transactions.
type batch struct {
	g    *gen
	ctx  context.Context
	tbl  string
	cols []string
	rows [][]any
	n    int
	// parents are flushed before this batch, so foreign keys always point
	// at rows already written.
	parents []*batch
}

func (g *gen) batch(ctx context.Context, tbl string, cols ...string) *batch {
	return &batch{g: g, ctx: ctx, tbl: tbl, cols: cols}
}

func (b *batch) add(row ...any) error {
	b.rows = append(b.rows, row)
	b.n++
	if len(b.rows) >= chunk {
		return b.flush()
	}
	return nil
}

func (b *batch) flush() error {
	for _, p := range b.parents {
		if err := p.flush(); err != nil {
			return err
		}
	}
	err := b.g.st.BulkInsert(b.ctx, b.tbl, b.cols, b.rows)
	b.rows = b.rows[:0]
	return err
}

func (g *gen) nextID(ctx context.Context, table string) (int64, error) {
	id, err := g.st.MaxID(ctx, table)
	return id + 1, err
}

// scale grows the skeleton with the requested size so apartments keep a
// realistic number of residents at a million users.
func (g *gen) scale() int {
	s := max((g.o.Users+DefaultUsers-1)/DefaultUsers, (g.o.Devices+DefaultDevices-1)/DefaultDevices)
	return max(s, 1)
}

func (g *gen) projects(ctx context.Context) error {
	k := g.scale()
	var comms []*community
	var offices []*office
	var homes []*home
	pid, err := g.nextID(ctx, "projects")
	if err != nil {
		return err
	}
	var bid, aid, did int64
	for _, n := range []struct {
		id    *int64
		table string
	}{{&bid, "buildings"}, {&aid, "apartments"}, {&did, "departments"}} {
		if *n.id, err = g.nextID(ctx, n.table); err != nil {
			return err
		}
	}
	projects := g.batch(ctx, "projects", "id", "installer_id", "kind", "name", "manager", "address", "time_zone", "created_at")
	buildings := g.batch(ctx, "buildings", "id", "project_id", "name")
	apartments := g.batch(ctx, "apartments", "id", "building_id", "floor", "number", "name", "family_member_limit")
	departments := g.batch(ctx, "departments", "id", "project_id", "name")
	buildings.parents = []*batch{projects}
	apartments.parents = []*batch{buildings}
	departments.parents = []*batch{projects}
	created := func() time.Time { return g.o.Now.Add(-time.Duration(30+g.rng.IntN(900)) * 24 * time.Hour) }
	for _, inst := range g.installers {
		for c := 0; c < communitiesPerInst; c++ {
			name := fmt.Sprintf("%s %s", g.pick(placeNames), g.pick(communitySuffixes))
			cm := &community{project: pid, installer: inst.ID}
			if err := projects.add(pid, inst.ID, model.ProjectCommunity, name, g.person(), g.address(), inst.TimeZone, created()); err != nil {
				return err
			}
			for b := 0; b < buildingsPerCommty*k; b++ {
				if err := buildings.add(bid, pid, fmt.Sprintf("Building %c%d", 'A'+b%26, b/26+1)); err != nil {
					return err
				}
				cm.buildings = append(cm.buildings, bid)
				for f := 1; f <= floorsPerBuilding; f++ {
					for n := 1; n <= aptsPerFloor; n++ {
						num := fmt.Sprintf("%d%02d", f, n)
						// The guide's "APT Name": the family's name, which its
						// users carry (chosen by id: the same seed, the same rows).
						surname := lastNames[int(aid)%len(lastNames)]
						if err := apartments.add(aid, bid, fmt.Sprint(f), num, surname+" family", 4+g.rng.IntN(4)); err != nil {
							return err
						}
						cm.apts = append(cm.apts, apt{id: aid, building: bid, label: fmt.Sprintf("Building %c%d-%s", 'A'+b%26, b/26+1, num), surname: surname})
						aid++
					}
				}
				bid++
			}
			comms = append(comms, cm)
			pid++
		}
		for o := 0; o < officesPerInst; o++ {
			of := &office{project: pid, installer: inst.ID}
			if err := projects.add(pid, inst.ID, model.ProjectOffice, fmt.Sprintf("%s %s", g.pick(lastNames), g.pick(officeSuffixes)),
				g.person(), g.address(), inst.TimeZone, created()); err != nil {
				return err
			}
			for d := 0; d < departmentsPerOffic*k; d++ {
				dn := departmentNames[d%len(departmentNames)]
				if d >= len(departmentNames) {
					dn = fmt.Sprintf("%s %d", dn, d/len(departmentNames)+1)
				}
				if err := departments.add(did, pid, dn); err != nil {
					return err
				}
				of.departments = append(of.departments, did)
				of.deptNames = append(of.deptNames, dn)
				did++
			}
			offices = append(offices, of)
			pid++
		}
		for h := 0; h < homesPerInst*k; h++ {
			owner := g.person()
			hm := &home{project: pid, installer: inst.ID, address: g.address()}
			if err := projects.add(pid, inst.ID, model.ProjectPersonal, owner+" Residence", owner, hm.address, inst.TimeZone, created()); err != nil {
				return err
			}
			homes = append(homes, hm)
			pid++
		}
	}
	for _, b := range []*batch{projects, buildings, apartments, departments} {
		if err := b.flush(); err != nil {
			return err
		}
	}
	g.res.Projects = projects.n
	fmt.Fprintf(g.out, "projects: %d (%d communities with %d buildings and %d apartments, %d offices with %d departments, %d single-tenant homes)\n",
		projects.n, len(comms), buildings.n, apartments.n, len(offices), departments.n, len(homes))
	if err := g.endUsers(ctx, comms, offices, homes); err != nil {
		return err
	}
	return g.devices(ctx, comms, offices, homes)
}

func (g *gen) address() string {
	return fmt.Sprintf("%d %s %s, %s", 1+g.rng.IntN(400), g.pick(placeNames), g.pick(streetKinds), g.pick(cities))
}
