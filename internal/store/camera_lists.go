package store

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The sub-distributor's Third-Party Device module: the cameras of its
// installers, as a Project list (cameras of communities and offices) and a
// Personal list (cameras of single-tenant homes), searched by the guide's
// fields, sorted by the visible columns, checked one by one and deleted,
// alone or a selection at a time. No list, export or detail carries a
// camera's user name or password.

// Camera list scopes: the guide's Project / Personal switch.
const (
	CameraScopeProject  = "project"
	CameraScopePersonal = "personal"
)

// CameraCountCap bounds the count of a camera list: ListCameras counts at
// most CameraCountCap+1 matches, so a Total above CameraCountCap means
// "more than CameraCountCap".
const CameraCountCap = 10_000

// MaxCameraBatch is the most cameras one batch delete takes.
const MaxCameraBatch = 500

// MaxCameraQuery bounds each search text.
const MaxCameraQuery = 128

// CameraSorts are the sort keys of the lists, one per visible column.
var CameraSorts = []string{"name", "project", "manager", "owner", "installer", "created_at"}

// CameraListFilter selects cameras for the lists and the API.
type CameraListFilter struct {
	Scope     string // "" (every camera), CameraScopeProject or CameraScopePersonal
	ProjectID int64
	Name      string // Device Name contains
	Project   string // Project contains (project cameras)
	Manager   string // Project Manager / Single-tenant Manager contains
	Owner     string // Owner contains (personal cameras)
	IDs       []int64
	Sort      string // one of CameraSorts; "" is created_at
	Order     string // asc or desc; "" is desc for created_at, asc otherwise
	model.Page
}

// CameraSortAllowed reports whether a list of scope shows the column sort
// sorts by: the Project list has no Owner column, the Personal list no
// Project column.
func CameraSortAllowed(scope, sort string) bool {
	switch {
	case !slices.Contains(CameraSorts, sort):
		return false
	case scope == CameraScopeProject && sort == "owner", scope == CameraScopePersonal && sort == "project":
		return false
	}
	return true
}

// CheckCameraListFilter validates a camera search into v, naming the field
// of each problem; it trims the texts and fills in the default order. The
// API and the portal call it; ListCameras calls it again.
func CheckCameraListFilter(f *CameraListFilter, v *model.Validator) {
	for _, t := range []struct {
		field string
		p     *string
	}{{"name", &f.Name}, {"project", &f.Project}, {"manager", &f.Manager}, {"owner", &f.Owner}} {
		*t.p = strings.TrimSpace(*t.p)
		v.Check(utf8.RuneCountInString(*t.p) <= MaxCameraQuery, t.field, "must be at most %d characters", MaxCameraQuery)
	}
	switch f.Scope {
	case "", CameraScopeProject, CameraScopePersonal:
	default:
		v.Add("scope", "must be project or personal")
	}
	if f.Scope == CameraScopeProject && f.Owner != "" {
		v.Add("owner", "searches personal cameras only (scope=personal): project cameras have no owner")
	}
	if f.Scope == CameraScopePersonal && f.Project != "" {
		v.Add("project", "searches project cameras only (scope=project): search personal cameras by owner")
	}
	if f.Sort == "" {
		f.Sort = "created_at"
	}
	if !CameraSortAllowed(f.Scope, f.Sort) {
		allowed := []string{}
		for _, s := range CameraSorts {
			if CameraSortAllowed(f.Scope, s) {
				allowed = append(allowed, s)
			}
		}
		v.Add("sort", "must be one of %s", strings.Join(allowed, ", "))
	}
	switch f.Order {
	case "":
		f.Order = "asc"
		if f.Sort == "created_at" {
			f.Order = "desc"
		}
	case "asc", "desc":
	default:
		v.Add("order", "must be asc or desc")
	}
	v.Check(len(f.IDs) <= MaxCameraBatch, "ids", "must be at most %d", MaxCameraBatch)
}

// CameraListRow is a camera as the Third-Party Device lists show it.
type CameraListRow struct {
	CameraRow
	Installer string `json:"installer"` // the installer's name, or its account name
}

// Scope is the list the camera belongs in.
func (c *CameraRow) Scope() string {
	if c.ProjectKind == model.ProjectPersonal {
		return CameraScopePersonal
	}
	return CameraScopeProject
}

// StreamHost is the host (and port) of the camera's stream URL: what the
// lists show of it.
func (c *CameraRow) StreamHost() string { return StreamHost(c.StreamURL) }

// StreamHost is the host and port of an RTSP URL, never a user or password.
func StreamHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Host
}

// SafeStreamURL is a stream URL without any user name or password in it.
// The store refuses such URLs, so this only guards rows written otherwise.
func SafeStreamURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// cameraSortExpr is the SQL of each sort key: the copies the list indexes
// hold (see migrations/*/00007_camera_lists.sql).
var cameraSortExpr = map[string]string{
	"name":       "t.name",
	"project":    "t.project_name",
	"manager":    "t.project_manager",
	"owner":      "t.owner_name",
	"installer":  "t.installer_name",
	"created_at": "t.created_at",
}

// cameraLevel is the list index of the actor's level of the tree and the
// condition on the columns it leads with.
func cameraLevel(act *model.Actor) (index, cond string, args []any) {
	switch act.Role {
	case model.RoleAdmin:
		return idxCamerasListAll, "1=1", nil
	case model.RoleDistributor:
		return idxCamerasListDist, "t.distributor_id = ?", []any{act.AccountID}
	case model.RoleSubdistributor:
		return idxCamerasListSub, "t.subdistributor_id = ?", []any{act.AccountID}
	default:
		return idxCamerasListInst, "t.installer_id = ?", []any{act.AccountID}
	}
}

// cameraWhere is the FROM and WHERE of a list: tenancy, the scope, the
// project, the selection and the searches, all on the camera row t. A list
// reads the list index of the actor's level, which holds every column
// tested here: counting, searching and sorting never read the table. (A
// selection reads the cameras by id, one project's list the project index.
// SQLite plans without statistics, so the index is named; PostgreSQL plans
// from its statistics.)
func (s *Store) cameraWhere(act *model.Actor, f CameraListFilter) (from, where string, args []any) {
	index, cond, args := cameraLevel(act)
	from = "third_party_devices t"
	if s.dialect == SQLite && len(f.IDs) == 0 && f.ProjectID == 0 {
		from += indexedBy(index)
	}
	// The level's copy of the tree is what the index ranges over; the
	// installer scope is the store's one rule of tenancy, checked as well.
	scope, sargs := installerScope(act, "t.installer_id")
	conds := []string{cond, scope}
	args = append(args, sargs...)
	if f.Scope != "" {
		conds = append(conds, `t.scope = ?`)
		args = append(args, f.Scope)
	}
	if f.ProjectID != 0 {
		conds = append(conds, `t.project_id = ?`)
		args = append(args, f.ProjectID)
	}
	if len(f.IDs) > 0 {
		list, ids := idList(f.IDs)
		conds = append(conds, `t.id IN `+list)
		args = append(args, ids...)
	}
	for _, c := range []struct{ col, q string }{{"t.name", f.Name}, {"t.project_name", f.Project}, {"t.project_manager", f.Manager},
		{"t.owner_name", f.Owner}} {
		if c.q == "" {
			continue
		}
		// SQLite's LIKE ignores the case of ASCII letters, as its lower()
		// does (and only those): the same match, without a call per row.
		col := c.col
		if s.dialect != SQLite {
			col = "lower(" + col + ")"
		}
		conds = append(conds, col+` LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(c.q))
	}
	return from, strings.Join(conds, " AND "), args
}

const cameraListCols = cameraCols + `, p.name, p.kind, p.manager, coalesce(o.name, ''),
	CASE WHEN t.password <> '' THEN 1 ELSE 0 END, CASE WHEN i.name <> '' THEN i.name ELSE i.username END`

// cameraJoins are the tables a list row's columns come from.
const cameraJoins = ` JOIN projects p ON p.id = t.project_id JOIN accounts i ON i.id = t.installer_id
	LEFT JOIN end_users o ON o.id = t.owner_id`

func scanCameraListRow(r scanner, extra ...any) (*CameraListRow, error) {
	var c CameraListRow
	var hasPw int
	dest := []any{&c.ID, &c.InstallerID, &c.ProjectID, nid(&c.OwnerID), &c.Kind, &c.Name, &c.StreamURL, &c.Created,
		&c.Project, &c.ProjectKind, &c.Manager, &c.Owner, &hasPw, &c.Installer}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	c.HasPassword = hasPw == 1
	c.StreamURL = SafeStreamURL(c.StreamURL)
	return &c, nil
}

// ListCameras is the Third-Party Device list of the actor's subtree: the
// cameras of one scope (or all), filtered by the guide's fields (each a
// case-insensitive "contains"), sorted by a visible column (ties by id, in
// the same direction). Total counts at most CameraCountCap+1 cameras: more
// than CameraCountCap means "more than that many".
func (s *Store) ListCameras(ctx context.Context, f CameraListFilter) (model.List[*CameraListRow], error) {
	out := model.List[*CameraListRow]{Page: f.Page.Page, PerPage: f.PerPage, Items: []*CameraListRow{}}
	act, err := actor(ctx)
	if err != nil {
		return out, err
	}
	var v model.Validator
	CheckCameraListFilter(&f, &v)
	if err := v.Err(); err != nil {
		return out, err
	}
	if f.Page.Page < 1 || f.PerPage < 1 {
		f.Page = model.Page{Page: max(f.Page.Page, 1), PerPage: model.DefaultPerPage}
		out.Page, out.PerPage = f.Page.Page, f.PerPage
	}
	from, where, args := s.cameraWhere(act, f)
	count := func() error {
		return s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+from+` WHERE `+where+` LIMIT ?) c`,
			s.customPlan(append(slices.Clone(args), CameraCountCap+1))...).Scan(&out.Total)
	}
	// A search tests its texts on every camera in scope, to count the
	// matches and again to find the page: the page's query counts them as
	// it goes instead (the total is capped all the same). A list without a
	// search counts first, from the index alone and stopping at the cap,
	// and skips a page past its end.
	searched := f.Name != "" || f.Project != "" || f.Manager != "" || f.Owner != ""
	if !searched {
		if err := count(); err != nil {
			return out, err
		}
		if f.Page.Offset() >= out.Total && out.Total <= CameraCountCap {
			return out, nil // past the end: nothing to read
		}
	}
	// The page's ids come from the index alone (in its order for the
	// created time; else the matches are sorted, keeping only the page),
	// then the page's rows are read with their project, owner and installer.
	dir := " ASC"
	if f.Order == "desc" {
		dir = " DESC"
	}
	order := cameraSortExpr[f.Sort] + dir + `, t.id` + dir
	matches := "0"
	if searched {
		matches = "count(*) OVER ()"
	}
	page := `SELECT t.id, ` + matches + ` AS matches FROM ` + from + ` WHERE ` + where + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	pageArgs := append(slices.Clone(args), f.PerPage, f.Page.Offset())
	if f.Scope == "" && f.Sort == "created_at" && !searched && len(f.IDs) == 0 && f.ProjectID == 0 {
		// Both lists newest first: the list index holds each in that
		// order, so the page is the newest of the first pages of the two
		// instead of a sort of every camera in scope.
		n := f.Page.Offset() + f.PerPage
		branch := func(alias string) string {
			return `SELECT * FROM (SELECT t.id, t.created_at FROM ` + from + ` WHERE ` + where + ` AND t.scope = ?
				ORDER BY ` + order + ` LIMIT ?) ` + alias
		}
		page = `SELECT u.id, 0 AS matches FROM (` + branch("a") + ` UNION ALL ` + branch("b") + `) u
			ORDER BY u.created_at` + dir + `, u.id` + dir + ` LIMIT ? OFFSET ?`
		pageArgs = append(append(append(append(slices.Clone(args), CameraScopeProject, n), args...), CameraScopePersonal, n),
			f.PerPage, f.Page.Offset())
	}
	query := `SELECT ` + cameraListCols + `, pg.matches FROM (` + page + `) pg
		CROSS JOIN third_party_devices t` + cameraJoins + ` WHERE t.id = pg.id ORDER BY ` + order
	rows, err := s.query(ctx, query, s.customPlan(pageArgs)...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var n int
		it, err := scanCameraListRow(rows, &n)
		if err != nil {
			return out, err
		}
		if searched {
			out.Total = min(n, CameraCountCap+1)
		}
		out.Items = append(out.Items, it)
	}
	if err := rows.Err(); err != nil {
		return out, err
	}
	if searched && len(out.Items) == 0 && f.Page.Offset() > 0 {
		return out, count() // a page past the end still tells how many there are
	}
	return out, nil
}

// CameraDetail is one camera with everything stored about it but its
// credentials (whether it has them), and who it belongs to, up to the
// installer.
type CameraDetail struct {
	CameraListRow
	HasUsername       bool   `json:"has_username"`
	ProjectAddress    string `json:"project_address"`
	OwnerEmail        string `json:"owner_email"`
	InstallerUsername string `json:"installer_username"`
	InstallerCompany  string `json:"installer_company"`
	InstallerEmail    string `json:"installer_email"`
}

// GetCameraDetail returns a camera of the actor's subtree for its detail
// page.
func (s *Store) GetCameraDetail(ctx context.Context, id int64) (*CameraDetail, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	cond, args := installerScope(act, "t.installer_id")
	var d CameraDetail
	var hasUser int
	row, err := scanCameraListRow(s.queryRow(ctx, `SELECT `+cameraListCols+`, CASE WHEN t.username <> '' THEN 1 ELSE 0 END,
		p.address, coalesce(o.email, ''), i.username, i.company, i.email
		FROM third_party_devices t`+cameraJoins+`
		WHERE t.id = ? AND `+cond, append([]any{id}, args...)...),
		&hasUser, &d.ProjectAddress, &d.OwnerEmail, &d.InstallerUsername, &d.InstallerCompany, &d.InstallerEmail)
	if isNoRows(err) {
		return nil, model.NotFound("third-party device")
	} else if err != nil {
		return nil, err
	}
	d.CameraListRow, d.HasUsername = *row, hasUser == 1
	return &d, nil
}

// DeleteThirdPartyDevices deletes a selection of cameras of the actor's
// subtree (at most MaxCameraBatch) in one transaction: all of them, or,
// when one is not found, none. It returns how many it deleted.
func (s *Store) DeleteThirdPartyDevices(ctx context.Context, ids []int64) (int, error) {
	act, err := actor(ctx)
	if err != nil {
		return 0, err
	}
	var uniq []int64
	seen := map[int64]bool{}
	for _, id := range ids {
		if id <= 0 {
			return 0, model.Invalid("ids", "must be camera ids (whole numbers from 1); %d is not", id)
		}
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	switch {
	case len(uniq) == 0:
		return 0, model.Invalid("ids", "is required: the ids of the cameras to delete")
	case len(uniq) > MaxCameraBatch:
		return 0, model.Invalid("ids", "must hold at most %d cameras; it holds %d", MaxCameraBatch, len(uniq))
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		cond, args := installerScope(act, "t.installer_id")
		list, idArgs := idList(uniq)
		rows, err := tx.query(ctx, `SELECT t.id, t.name, t.project_id FROM third_party_devices t WHERE t.id IN `+list+` AND `+cond,
			append(idArgs, args...)...)
		if err != nil {
			return err
		}
		type found struct {
			name    string
			project int64
		}
		have := map[int64]found{}
		for rows.Next() {
			var id int64
			var f found
			if err := rows.Scan(&id, &f.name, &f.project); err != nil {
				rows.Close()
				return err
			}
			have[id] = f
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var missing []string
		for _, id := range uniq {
			if _, ok := have[id]; !ok {
				missing = append(missing, strconv.FormatInt(id, 10))
			}
		}
		if len(missing) > 0 {
			ids := strings.Join(missing, ", ")
			err := model.Errorf(model.ENOTFOUND, "third-party device %s not found: nothing was deleted", ids)
			if len(missing) > 1 {
				err = model.Errorf(model.ENOTFOUND, "third-party devices %s not found: nothing was deleted", ids)
			}
			return err.WithField("ids", "no such third-party device: %s", ids)
		}
		if _, err := tx.exec(ctx, `DELETE FROM third_party_devices WHERE id IN `+list, idArgs...); err != nil {
			return err
		}
		for _, id := range uniq {
			f := have[id]
			if err := s.audit(ctx, tx, "third_party_device.delete", "third_party_device", id,
				map[string]any{"name": f.name, "project_id": f.project, "batch": len(uniq)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(uniq), nil
}
