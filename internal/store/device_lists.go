package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The sub-distributor's Project Device (community, office) and Personal
// Device lists, a device's detail view and batch delete, fast at a million
// devices. See migrations/*/00006_device_lists.sql for the indexes.
//
// How a list is read. Every device carries its project's kind and the
// distributor and sub-distributor above its installer, and each level of
// the tree has a list index (scope, kind, created_at, id, …) that holds
// what the filters test. A list first counts its matches, at most
// DeviceCountCap+1, through the most selective index a filter offers (an
// exact MAC; a partial MAC or a name held by few devices, through the
// trigram index; a SIP prefix; the projects a community, office or manager
// search names), else through the list index. When at most DeviceCountCap
// devices match, the page is read through that same index and sorted (at
// most DeviceCountCap rows). When more match, the matches are dense and
// the page is found by walking an index in the order asked for: the list
// index (created time), the MAC, the SIP, the projects by name or manager
// then their devices, the installers by name then their devices. The other
// columns (status, name, type, model, firmware, location) have no such
// index: a list of more than DeviceCountCap devices cannot be sorted by
// them, and says so (sort them after narrowing the search).

// DeviceCountCap bounds the count of a device list: ListDevices counts at
// most DeviceCountCap+1 matching devices, so a Total above DeviceCountCap
// means "more than DeviceCountCap".
const DeviceCountCap = 10_000

// deviceProbe: a "contains" text (a partial MAC, a part of a name) found
// in fewer devices than this on the whole platform is looked up through
// the trigram index; a more common one, and one of fewer than three
// characters (which trigrams cannot find), is tested on the walk of the
// list index instead, which holds the MAC and the name.
const deviceProbe = 1_000

// deviceMaxProjects bounds the projects a community, office or manager
// search is resolved to before the devices are read.
const deviceMaxProjects = 1_000

// DeviceWalkSorts are the columns a list of any length sorts by: an index
// gives their order. The others sort lists of at most DeviceCountCap devices.
var DeviceWalkSorts = []string{"created_at", "mac", "sip", "project", "manager", "installer", "availability"}

// deviceLevel is the list index of the actor's level of the tree and the
// condition that scopes devices to its subtree (on the columns that the
// index leads with).
type deviceLevel struct {
	index string
	cond  string
	args  []any
}

func deviceLevelOf(act *model.Actor) deviceLevel {
	switch act.Role {
	case model.RoleAdmin:
		return deviceLevel{index: idxDevicesListAll, cond: "1=1"}
	case model.RoleDistributor:
		return deviceLevel{idxDevicesListDist, "d.distributor_id = ?", []any{act.AccountID}}
	case model.RoleSubdistributor:
		return deviceLevel{idxDevicesListSub, "d.subdistributor_id = ?", []any{act.AccountID}}
	default:
		return deviceLevel{idxDevicesListInst, "d.installer_id = ?", []any{act.AccountID}}
	}
}

// deviceSearch is a list request with what was learnt before its queries.
type deviceSearch struct {
	act *model.Actor
	lvl deviceLevel
	f   model.DeviceFilter
	// The community, office or manager search: the projects it names, or
	// (when there are more than deviceMaxProjects) a subquery finding them.
	projectSearch bool
	projects      []int64
	projSQL       string
	projArgs      []any
}

// Drivers: the index a count (and a page of a short list) is read through.
const (
	driveList     = ""         // the level's list index
	driveMAC      = "mac"      // an exact MAC: the MAC's unique index
	driveMACText  = "mactext"  // a partial MAC held by few devices: the trigram index
	driveName     = "name"     // a part of a name held by few devices: the trigram index
	driveSIP      = "sip"      // a SIP prefix: the SIP index
	driveProject  = "project"  // the projects of a community, office or manager search
	driveFirmware = "firmware" // a firmware version: the firmware index, in created order
	driveModel    = "model"    // a model: the model index (00029), in created order
	// Walks that join the devices to the projects (installers) in scope and
	// in order: the join scopes the devices.
	driveProjectWalk   = "project-walk"
	driveInstallerWalk = "installer-walk"
)

// where is the WHERE clause of the search, and the devices table with the
// index SQLite must read for driver (SQLite plans without statistics: the
// index is named; PostgreSQL plans from its statistics and gets no hints).
func (s *Store) deviceWhere(q *deviceSearch, driver string) (table, where string, args []any) {
	f := q.f
	table = "devices d"
	if s.dialect == SQLite {
		switch driver {
		case driveList:
			table += indexedBy(q.lvl.index)
		case driveMACText, driveName:
			table += " NOT INDEXED" // the trigram table's rowids lead
		case driveSIP:
			table += indexedBy(idxDevicesSIPScope)
		case driveProject:
			table += indexedBy(idxDevicesProjectCreated)
		case driveFirmware:
			table += indexedBy(idxDevicesFirmware)
		case driveModel:
			table += indexedBy(idxDevicesModelList)
		}
	}
	var conds []string
	switch driver {
	case driveProject, driveProjectWalk:
		// The projects are those of the list's kind in the actor's subtree
		// (resolveDeviceProjects, or the walk's join): a device belongs to
		// its project's installer and has its project's kind, so the
		// projects scope the devices, and the project index needs no
		// reading of the rows to count them.
		conds = []string{"1=1"}
	case driveInstallerWalk:
		// The installers are those of the actor's subtree (the walk's join).
		conds = []string{"d.project_kind = ?"}
		args = append(args, string(f.Scope))
	default:
		conds = []string{q.lvl.cond, "d.project_kind = ?"}
		args = append(append(args, q.lvl.args...), string(f.Scope))
	}
	if f.Online != nil {
		if *f.Online {
			conds = append(conds, "d.online = true")
		} else {
			conds = append(conds, "d.online = false")
		}
	}
	if f.MAC != "" {
		switch {
		case len(f.MAC) == 12:
			conds = append(conds, "d.mac = ?")
			args = append(args, f.MAC)
		case s.dialect == SQLite:
			if driver == driveMACText {
				conds = append(conds, "d.id IN (SELECT rowid FROM devices_search WHERE mac LIKE ?)")
				args = append(args, "%"+f.MAC+"%")
			}
			// The MAC holds upper-case hex digits only, as f.MAC does.
			conds = append(conds, "instr(d.mac, ?) > 0")
			args = append(args, f.MAC)
		case driver == driveMACText:
			conds = append(conds, "d.mac LIKE ?") // the trigram index
			args = append(args, "%"+f.MAC+"%")
		default:
			conds = append(conds, "strpos(d.mac, ?) > 0")
			args = append(args, f.MAC)
		}
	}
	if f.Firmware != "" {
		conds = append(conds, "d.firmware = ?")
		args = append(args, f.Firmware)
	}
	if f.Model != "" {
		conds = append(conds, "d.model = ?")
		args = append(args, f.Model)
	}
	if f.SIP != "" {
		c, a := s.prefixCond("d.sip", f.SIP)
		conds = append(conds, c)
		args = append(args, a...)
	}
	if f.Name != "" {
		if s.dialect == SQLite {
			if driver == driveName {
				// The trigram table's LIKE takes no escape: wildcards in
				// the text only widen it; the exact test follows.
				conds = append(conds, "d.id IN (SELECT rowid FROM devices_search WHERE name LIKE ?)")
				args = append(args, "%"+strings.ToLower(f.Name)+"%")
			}
			conds = append(conds, "instr(lower(d.name), ?) > 0")
			args = append(args, strings.ToLower(f.Name))
		} else {
			conds = append(conds, "lower(d.name) "+s.likeOp())
			args = append(args, likeContains(f.Name))
		}
	}
	if q.projectSearch {
		if q.projSQL != "" {
			conds = append(conds, "d.project_id IN ("+q.projSQL+")")
			args = append(args, q.projArgs...)
		} else {
			list, a := idList(q.projects)
			conds = append(conds, "d.project_id IN "+list)
			args = append(args, a...)
		}
	}
	return table, strings.Join(conds, " AND "), args
}

// resolveDeviceProjects finds the projects of the list's kind in the
// actor's subtree that a community, office or manager search names.
func (s *Store) resolveDeviceProjects(ctx context.Context, q *deviceSearch) error {
	f := q.f
	scope, args := installerScope(q.act, "sp.installer_id")
	conds := []string{"sp.kind = ?", scope}
	args = append([]any{string(f.Scope)}, args...)
	for _, t := range []struct{ col, text string }{{"name", f.Community}, {"name", f.Office}, {"manager", f.Manager}} {
		if t.text == "" {
			continue
		}
		if s.dialect == SQLite {
			conds = append(conds, "instr(lower(sp."+t.col+"), ?) > 0")
			args = append(args, strings.ToLower(t.text))
		} else {
			conds = append(conds, "lower(sp."+t.col+") "+s.likeOp())
			args = append(args, likeContains(t.text))
		}
	}
	sub := `SELECT sp.id FROM projects sp WHERE ` + strings.Join(conds, " AND ")
	rows, err := s.query(ctx, sub+` LIMIT ?`, s.customPlan(append(args, deviceMaxProjects+1))...)
	if err != nil {
		return err
	}
	ids, err := scanIDs(rows)
	if err != nil {
		return err
	}
	q.projectSearch = true
	if len(ids) > deviceMaxProjects {
		q.projSQL, q.projArgs = sub, args
	} else {
		q.projects = ids
	}
	return nil
}

// fewHold reports whether fewer than deviceProbe devices hold text in
// column col (mac or name) of the trigram index, which then finds them.
func (s *Store) fewHold(ctx context.Context, col, text string) (bool, error) {
	if !indexableContains(text) {
		return false, nil // trigrams cannot find it: fewer than three letters in a row
	}
	if s.dialect == SQLite {
		var n int
		err := s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM devices_search WHERE `+col+` LIKE ? LIMIT ?) c`,
			"%"+strings.ToLower(text)+"%", deviceProbe).Scan(&n)
		return n < deviceProbe, err
	}
	if col == "name" {
		// PostgreSQL estimates how common a name is from its statistics.
		return true, nil
	}
	// Its trigram index reads every device of a common trigram before
	// finding any: a MAC's manufacturer prefix (0C:11:05) is in most of
	// them. A text that starts the MACs of many devices is tested on the
	// walk of the list index instead.
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM devices WHERE mac >= ? AND mac < ? LIMIT ?) c`,
		text, text+"G", deviceProbe).Scan(&n)
	return n < deviceProbe, err
}

// deviceCount counts the search's matches through driver, at most
// DeviceCountCap+1.
func (s *Store) deviceCount(ctx context.Context, q *deviceSearch, driver string) (int, error) {
	table, where, args := s.deviceWhere(q, driver)
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+table+` WHERE `+where+` LIMIT ?) c`,
		s.customPlan(append(args, DeviceCountCap+1))...).Scan(&n)
	return n, err
}

// installerDisplay is the installer's name, or its account name when it has none.
const installerDisplay = `CASE WHEN i.name <> '' THEN i.name ELSE i.username END`

// deviceOrder is the ORDER BY of sort column col in direction dir (ASC or
// DESC), the id last so that pages never overlap. joined says whether the
// query joins the projects (p) or installers (i) it sorts by, as the walks
// do; a short list reads their names for its rows alone.
func (s *Store) deviceOrder(col, dir string, joined bool) string {
	then := ", d.created_at DESC, d.id DESC"
	switch col {
	case "status":
		// Offline before online, then the longest unseen first (ascending).
		nulls := " NULLS FIRST"
		if dir == "DESC" {
			nulls = " NULLS LAST"
		}
		return "d.online " + dir + ", d.last_seen " + dir + nulls + ", d.id " + dir
	case "mac":
		return "d.mac " + dir
	case "sip":
		if s.dialect == Postgres {
			return `d.sip COLLATE "C" ` + dir + ", d.id " + dir
		}
		return "d.sip " + dir + ", d.id " + dir
	case "project", "manager":
		c := map[string]string{"project": "name", "manager": "manager"}[col]
		if joined {
			return "p." + c + " " + dir + ", p.id " + dir + then
		}
		return "(SELECT p." + c + " FROM projects p WHERE p.id = d.project_id) " + dir + ", d.project_id " + dir + then
	case "installer":
		if joined {
			return installerDisplay + " " + dir + ", i.id " + dir + then
		}
		return "(SELECT " + installerDisplay + " FROM accounts i WHERE i.id = d.installer_id) " + dir + ", d.installer_id " + dir + then
	case "created_at":
		return "d.created_at " + dir + ", d.id " + dir
	case "availability":
		return availabilityOrder(dir)
	}
	// name, type, model, firmware, location
	return "d." + col + " " + dir + then
}

// ListDevices is the Project Device (scope community or office) and
// Personal Device (scope personal) list of the actor's subtree, filtered
// and sorted as f says (newest first by default). Total counts at most
// DeviceCountCap+1 devices: more than DeviceCountCap means "more than
// that many". A list of more than DeviceCountCap devices sorts only by the
// columns of DeviceWalkSorts; another sort is refused naming the field.
func (s *Store) ListDevices(ctx context.Context, f model.DeviceFilter) (model.List[*model.DeviceRow], error) {
	out := model.List[*model.DeviceRow]{Page: f.Page.Page, PerPage: f.PerPage, Items: []*model.DeviceRow{}}
	act, err := actor(ctx)
	if err != nil {
		return out, err
	}
	var v model.Validator
	f.Check(&v)
	if err := v.Err(); err != nil {
		return out, err
	}
	if f.Page.Page < 1 || f.PerPage < 1 {
		f.Page = model.Page{Page: max(f.Page.Page, 1), PerPage: model.DefaultPerPage}
		out.Page, out.PerPage = f.Page.Page, f.PerPage
	}
	q := &deviceSearch{act: act, lvl: deviceLevelOf(act), f: f}
	if f.Community != "" || f.Office != "" || f.Manager != "" {
		if err := s.resolveDeviceProjects(ctx, q); err != nil {
			return out, err
		}
		if q.projSQL == "" && len(q.projects) == 0 {
			return out, nil // no such community, office or manager
		}
	}
	driver, err := s.deviceDriver(ctx, q)
	if err != nil {
		return out, err
	}
	var ids []int64
	walked := (driver == driveList || driver == driveFirmware || driver == driveModel) && f.Sort == "created_at"
	if walked {
		// The page is a walk of the list index, short list or long: read
		// it first. A first page that is not full is the whole list, and
		// needs no count.
		if ids, err = s.devicePageIDs(ctx, q, driver, true); err != nil {
			return out, err
		}
		if f.Page.Page == 1 && len(ids) < f.PerPage {
			out.Total = len(ids)
			if len(ids) > 0 {
				out.Items, err = s.deviceRows(ctx, ids)
			}
			return out, err
		}
	}
	if out.Total, err = s.deviceCount(ctx, q, driver); err != nil {
		return out, err
	}
	dense := out.Total > DeviceCountCap
	if f.Page.Offset() >= out.Total && !dense {
		return out, nil // past the end: nothing to read
	}
	if dense && !slices.Contains(DeviceWalkSorts, f.Sort) {
		return out, model.Invalid("sort", "cannot sort more than %s devices by %s: narrow the search first (a list of any length sorts by %s)",
			thousandsSep(DeviceCountCap), f.Sort, strings.Join(DeviceWalkSorts, ", "))
	}
	if !walked {
		if ids, err = s.devicePageIDs(ctx, q, driver, dense); err != nil {
			return out, err
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	out.Items, err = s.deviceRows(ctx, ids)
	return out, err
}

// deviceDriver picks the index the count (and a short list's page) reads:
// the most selective that a filter offers, else the list index.
func (s *Store) deviceDriver(ctx context.Context, q *deviceSearch) (string, error) {
	f := q.f
	if len(f.MAC) == 12 {
		return driveMAC, nil
	}
	if f.MAC != "" {
		if few, err := s.fewHold(ctx, "mac", f.MAC); err != nil || few {
			return driveMACText, err
		}
	}
	if f.Name != "" {
		if few, err := s.fewHold(ctx, "name", f.Name); err != nil || few {
			return driveName, err
		}
	}
	switch {
	case f.SIP != "" && q.projectSearch && q.projSQL == "":
		// Both narrow the list: read the one that leaves fewer devices.
		bySIP, err := s.deviceCount(ctx, &deviceSearch{act: q.act, lvl: q.lvl, f: model.DeviceFilter{Scope: f.Scope, SIP: f.SIP}}, driveSIP)
		if err != nil {
			return "", err
		}
		byProject, err := s.deviceCount(ctx, &deviceSearch{act: q.act, lvl: q.lvl, f: model.DeviceFilter{Scope: f.Scope},
			projectSearch: true, projects: q.projects}, driveProject)
		if err != nil {
			return "", err
		}
		if bySIP <= byProject {
			return driveSIP, nil
		}
		return driveProject, nil
	case f.SIP != "":
		return driveSIP, nil
	case q.projectSearch && q.projSQL == "":
		if f.Firmware != "" {
			// Both narrow the list: read the one that leaves fewer devices
			// (each count reads its index alone).
			byFirmware, err := s.deviceCount(ctx, &deviceSearch{act: q.act, lvl: q.lvl,
				f: model.DeviceFilter{Scope: f.Scope, Firmware: f.Firmware}}, driveFirmware)
			if err != nil {
				return "", err
			}
			byProject, err := s.deviceCount(ctx, &deviceSearch{act: q.act, lvl: q.lvl, f: model.DeviceFilter{Scope: f.Scope},
				projectSearch: true, projects: q.projects}, driveProject)
			if err != nil || byFirmware < byProject {
				return driveFirmware, err
			}
		}
		return driveProject, nil
	case f.Firmware != "":
		// The version's devices of the kind, newest first, scoped from the
		// index: it reads at most the version's devices of that kind.
		return driveFirmware, nil
	case f.Model != "":
		// The model's devices of the kind, newest first, likewise.
		return driveModel, nil
	}
	return driveList, nil
}

// devicePageIDs reads the ids of the page's devices, in order. A short
// list (not dense) is read through driver and sorted; a dense one is
// found by walking an index in the order asked for.
func (s *Store) devicePageIDs(ctx context.Context, q *deviceSearch, driver string, dense bool) ([]int64, error) {
	f := q.f
	dir := strings.ToUpper(f.Order)
	order := s.deviceOrder(f.Sort, dir, dense)
	var query string
	var args []any
	switch {
	case !dense:
		table, where, wargs := s.deviceWhere(q, driver)
		switch {
		case (f.Sort == "project" || f.Sort == "manager") && q.projectSearch && q.projSQL == "":
			// The projects the search named: join them (a few), rather
			// than look each match's project up.
			list, largs := idList(q.projects)
			table += " CROSS JOIN projects p"
			where = "p.id = d.project_id AND p.id IN " + list + " AND " + where
			wargs = append(largs, wargs...)
			order = s.deviceOrder(f.Sort, dir, true)
		case f.Sort == "installer":
			table += " CROSS JOIN accounts i" // few: the installers in scope
			where = "i.id = d.installer_id AND " + where
			order = s.deviceOrder(f.Sort, dir, true)
		}
		if s.dialect == SQLite && f.Sort == "availability" && driver == driveList {
			table = "devices d" + indexedBy(availabilityIndex(q.act)) // its order, no sort
		}
		if s.dialect == Postgres && f.Sort == "created_at" && driver != driveList {
			// Sort the matches found through the filter's index instead of
			// walking the date order on an estimate (see ListEndUsers).
			order = "d.created_at + interval '0 seconds' " + dir + ", d.id " + dir
		}
		query, args = `SELECT d.id FROM `+table+` WHERE `+where+` ORDER BY `+order, wargs
	case f.Sort == "project" || f.Sort == "manager":
		// The projects of the kind in scope in name (manager) order, each
		// with its devices newest first.
		_, where, wargs := s.deviceWhere(q, driveProjectWalk)
		pscope, pargs := installerScope(q.act, "p.installer_id")
		projects, devices := "projects p", "devices d"
		if s.dialect == SQLite {
			idx := idxProjectsKindName
			if f.Sort == "manager" {
				idx = idxProjectsKindManager
			}
			projects += indexedBy(idx)
			devices += indexedBy(idxDevicesProjectCreated)
		}
		query = `SELECT d.id FROM ` + projects + ` CROSS JOIN ` + devices + ` WHERE p.kind = ? AND ` + pscope +
			` AND d.project_id = p.id AND ` + where + ` ORDER BY ` + order
		args = append(append([]any{string(f.Scope)}, pargs...), wargs...)
	case f.Sort == "installer":
		// The installers in scope in name order, each with its devices of
		// the kind newest first.
		_, where, wargs := s.deviceWhere(q, driveInstallerWalk)
		iscope, iargs := accountScope(q.act, "i")
		accounts, devices := "accounts i", "devices d"
		if s.dialect == SQLite {
			accounts += indexedBy(idxAccountsDisplayName)
			devices += indexedBy(idxDevicesListInst)
		}
		query = `SELECT d.id FROM ` + accounts + ` CROSS JOIN ` + devices + ` WHERE i.role = 'installer' AND ` + iscope +
			` AND d.installer_id = i.id AND ` + where + ` ORDER BY ` + order
		args = append(iargs, wargs...)
	default:
		// created_at: the level's list index (the firmware index for a
		// version); mac, sip: their own.
		walk := driveList
		if (driver == driveFirmware || driver == driveModel) && f.Sort == "created_at" {
			walk = driver
		}
		table, where, wargs := s.deviceWhere(q, walk)
		if s.dialect == SQLite {
			switch f.Sort {
			case "mac":
				table = "devices d" + indexedBy(idxDevicesMACScope)
			case "sip":
				table = "devices d" + indexedBy(idxDevicesSIPScope)
			case "availability":
				table = "devices d" + indexedBy(availabilityIndex(q.act))
			}
		}
		query, args = `SELECT d.id FROM `+table+` WHERE `+where+` ORDER BY `+order, wargs
	}
	query += ` LIMIT ? OFFSET ?`
	args = s.customPlan(append(args, f.PerPage, f.Page.Offset()))
	read := func(qr querier) ([]int64, error) {
		rows, err := qr.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return nil, err
		}
		return scanIDs(rows)
	}
	if s.dialect != Postgres || !dense {
		return read(s.db)
	}
	// Keep PostgreSQL on the walk: the matches are dense, and the first of
	// them in order are found after a short walk.
	return s.readWalking(ctx, read)
}

// readWalking runs read on PostgreSQL kept on an index walk for this query
// only: no sort of the whole range, and none of the JIT compilation and
// parallel workers a walk's cost estimate invites.
func (s *Store) readWalking(ctx context.Context, read func(querier) ([]int64, error)) ([]int64, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL enable_sort = off; SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0`); err != nil {
		return nil, err
	}
	ids, err := read(tx)
	if err != nil {
		return nil, err
	}
	return ids, tx.Commit()
}

// deviceRowCols are a list row's columns: the device, its project's name
// and manager, and its installer's name.
const deviceRowCols = deviceCols + `, d.project_kind, p.name, p.manager, ` + installerDisplay + `, d.availability_7d`

func scanDeviceRow(r scanner, extra ...any) (*model.DeviceRow, error) {
	var row model.DeviceRow
	d := &row.Device
	dest := []any{&d.ID, &d.MAC, &d.InstallerID, &d.ProjectID, nid(&d.BuildingID), nid(&d.ApartmentID), nid(&d.DepartmentID),
		nid(&d.OwnerID), &d.Type, &d.Model, &d.Name, &d.SIP, &d.Firmware, &d.Location, &d.Online, &d.LastSeen, &d.Created,
		&row.ProjectKind, &row.Project, &row.Manager, &row.Installer, &row.Availability7d}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	return &row, nil
}

// deviceRows reads the rows of ids, in the order of ids (in chunks: a CSV
// export reads up to 100,000).
func (s *Store) deviceRows(ctx context.Context, ids []int64) ([]*model.DeviceRow, error) {
	byID := make(map[int64]*model.DeviceRow, len(ids))
	for start := 0; start < len(ids); start += model.MaxPerPage {
		list, args := idList(ids[start:min(start+model.MaxPerPage, len(ids))])
		rows, err := s.query(ctx, `SELECT `+deviceRowCols+` FROM devices d JOIN projects p ON p.id = d.project_id
			JOIN accounts i ON i.id = d.installer_id WHERE d.id IN `+list, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			row, err := scanDeviceRow(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			byID[row.ID] = row
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]*model.DeviceRow, 0, len(ids))
	for _, id := range ids {
		if row := byID[id]; row != nil {
			out = append(out, row)
		}
	}
	return out, nil
}

// deviceAuditEntries is how many of a device's latest audit entries its
// detail view shows.
const deviceAuditEntries = 20

// GetDeviceDetail returns a device of the actor's subtree by MAC (in any
// notation) with everything stored about it, what it belongs to up to its
// installer, and its latest audit entries that the actor may read.
func (s *Store) GetDeviceDetail(ctx context.Context, mac string) (*model.DeviceDetail, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	m, ok := model.NormalizeMAC(mac)
	if !ok {
		return nil, model.NotFound("device")
	}
	cond, args := installerScope(act, "d.installer_id")
	var det model.DeviceDetail
	var buildingID, aptBuildingID int64
	var building, aptBuilding, aptNumber, dept, owner, ownerRole string
	row, err := scanDeviceRow(s.queryRow(ctx, `SELECT `+deviceRowCols+`, p.address, p.time_zone, i.username, i.email, i.company,
		coalesce(b.id, 0), coalesce(b.name, ''), coalesce(ab.id, 0), coalesce(ab.name, ''), coalesce(a.number, ''),
		coalesce(dp.name, ''), coalesce(o.name, ''), coalesce(o.role, ''),
		d.ip, d.uptime, d.config_version, d.connected_at
		FROM devices d JOIN projects p ON p.id = d.project_id JOIN accounts i ON i.id = d.installer_id
		LEFT JOIN buildings b ON b.id = d.building_id
		LEFT JOIN apartments a ON a.id = d.apartment_id LEFT JOIN buildings ab ON ab.id = a.building_id
		LEFT JOIN departments dp ON dp.id = d.department_id
		LEFT JOIN end_users o ON o.id = d.owner_id
		WHERE d.mac = ? AND `+cond, append([]any{m}, args...)...),
		&det.ProjectAddress, &det.ProjectTimeZone, &det.InstallerUsername, &det.InstallerEmail, &det.InstallerCompany,
		&buildingID, &building, &aptBuildingID, &aptBuilding, &aptNumber, &dept, &owner, &ownerRole,
		&det.IP, &det.Uptime, &det.ConfigVersion, &det.Connected)
	if isNoRows(err) {
		return nil, model.NotFound("device")
	} else if err != nil {
		return nil, err
	}
	det.DeviceRow = *row
	if building == "" && aptBuilding != "" {
		buildingID, building = aptBuildingID, aptBuilding
	}
	det.Building, det.Department, det.Owner = building, dept, owner
	if aptNumber != "" {
		det.Apartment = apartmentLabel(aptBuilding, aptNumber)
	}
	// The owner chain, nearest first.
	d := &det.Device
	if d.OwnerID != 0 {
		det.Chain = append(det.Chain, model.DeviceLink{Kind: "end_user", ID: d.OwnerID, Name: owner})
	}
	if d.ApartmentID != 0 {
		det.Chain = append(det.Chain, model.DeviceLink{Kind: "apartment", ID: d.ApartmentID, Name: det.Apartment})
	}
	if buildingID != 0 {
		det.Chain = append(det.Chain, model.DeviceLink{Kind: "building", ID: buildingID, Name: building})
	}
	if d.DepartmentID != 0 {
		det.Chain = append(det.Chain, model.DeviceLink{Kind: "department", ID: d.DepartmentID, Name: dept})
	}
	projectKind := string(det.ProjectKind)
	if det.ProjectKind == model.ProjectPersonal {
		projectKind = "home"
	}
	det.Chain = append(det.Chain, model.DeviceLink{Kind: projectKind, ID: d.ProjectID, Name: det.Project},
		model.DeviceLink{Kind: "installer", ID: d.InstallerID, Name: det.Installer})
	audit, err := s.ListAudit(ctx, model.AuditFilter{ObjectType: "device", ObjectID: d.MAC,
		Page: model.Page{Page: 1, PerPage: deviceAuditEntries}})
	if err != nil {
		return nil, err
	}
	det.Audit = audit.Items
	return &det, nil
}

// DeleteDevices deletes up to model.MaxDeviceBatch devices of the actor's
// subtree by MAC (any notation), in one transaction: all of them, or none
// when one is not found (the error names it). Each deletion is audited;
// the MACs may then be registered again.
func (s *Store) DeleteDevices(ctx context.Context, macs []string) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	switch {
	case len(macs) == 0:
		return model.Invalid("macs", "is required: the MACs of the devices to delete")
	case len(macs) > model.MaxDeviceBatch:
		return model.Invalid("macs", "holds %d MACs: at most %d devices are deleted at a time", len(macs), model.MaxDeviceBatch)
	}
	seen := make(map[string]bool, len(macs))
	norm := make([]string, 0, len(macs))
	for _, mac := range macs {
		m, ok := model.NormalizeMAC(mac)
		if !ok {
			return model.Errorf(model.ENOTFOUND, "device %s not found", mac).
				WithField("macs", "%s is not a MAC", mac)
		}
		if !seen[m] {
			seen[m] = true
			norm = append(norm, m)
		}
	}
	return s.inTx(ctx, func(tx *Tx) error {
		// Read them all first: one missing (or another tenant's) MAC
		// refuses the whole batch before anything is deleted.
		cond, cargs := installerScope(act, "d.installer_id")
		list, largs := macList(norm)
		rows, err := tx.query(ctx, `SELECT `+deviceCols+` FROM devices d WHERE d.mac IN `+list+` AND `+cond, append(largs, cargs...)...)
		if err != nil {
			return err
		}
		found := make(map[string]*model.Device, len(norm))
		for rows.Next() {
			d, err := scanDevice(rows)
			if err != nil {
				rows.Close()
				return err
			}
			found[d.MAC] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range norm {
			if found[m] == nil {
				return model.Errorf(model.ENOTFOUND, "device %s not found: nothing was deleted", m).
					WithField("macs", "%s not found", m)
			}
		}
		for _, m := range norm {
			d := found[m]
			if err := deleteDeviceRow(ctx, tx, d.ID); err != nil {
				return err
			}
			if err := s.audit(ctx, tx, "device.delete", "device", d.MAC, map[string]any{"project_id": d.ProjectID, "type": d.Type,
				"name": d.Name, "batch": len(norm)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// macList is "(?,?,…)" for macs, and the MACs as arguments.
func macList(macs []string) (string, []any) {
	args := make([]any, len(macs))
	for i, m := range macs {
		args[i] = m
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?,", len(macs)), ",") + ")", args
}

// thousandsSep writes n with comma separators: 10000 → "10,000".
func thousandsSep(n int) string {
	s := itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
