package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/jackc/pgx/v5"
)

const endUserCols = `u.id, u.installer_id, u.project_id, u.apartment_id, u.department_id, u.role, u.family_master_id,
	u.name, u.sip, u.email, u.mobile, u.phone, u.address, u.active, u.premium, u.created_at, u.app_expires_at, u.premium_expires_at`

func scanEndUser(r scanner) (*model.EndUser, error) {
	var u model.EndUser
	err := r.Scan(&u.ID, &u.InstallerID, &u.ProjectID, nid(&u.ApartmentID), nid(&u.DepartmentID), &u.Role, nid(&u.FamilyMasterID),
		&u.Name, &u.SIP, &u.Email, &u.Mobile, &u.Phone, &u.Address, &u.Active, &u.Premium, &u.Created, &u.AppExpires, &u.PremiumExpires)
	return &u, err
}

// GetEndUser returns an end user of the actor's subtree.
func (s *Store) GetEndUser(ctx context.Context, id int64) (*model.EndUser, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	cond, args := installerScope(act, "u.installer_id")
	u, err := scanEndUser(s.queryRow(ctx, `SELECT `+endUserCols+` FROM end_users u WHERE u.id = ? AND `+cond, append([]any{id}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("end user")
	}
	return u, err
}

// ---- The User module's end-user lists: Villa User, Community User, Office User.

// EndUserCountCap bounds the count of an end-user list: counting a million
// rows would cost more than the page. ListEndUsers counts at most
// EndUserCountCap+1 matching users, so a Total above EndUserCountCap means
// "more than EndUserCountCap".
const EndUserCountCap = 10_000

// MaxEndUserQuery bounds the search text.
const MaxEndUserQuery = 128

// Account types (the guide's Account Type filter of villa and community users).
const (
	AccountTypeAll          = "all"
	AccountTypeFamilyMaster = "family_master"
	AccountTypeFamilyMember = "family_member"
)

// EndUserSearchTypes lists the guide's Search Type values of a list, in the
// guide's order: SIP, Name, Email, Mobile Number, Installer, and Family
// Master (villa, community) or Office (office).
func EndUserSearchTypes(k model.EndUserKind) []string {
	switch k {
	case model.KindVilla, model.KindCommunity:
		return []string{"sip", "name", "email", "mobile", "installer", "family_master"}
	case model.KindOffice:
		return []string{"sip", "name", "email", "mobile", "installer", "office"}
	}
	return nil
}

// EndUserAccountTypes lists the Account Type values of a list: office users
// have none but "all".
func EndUserAccountTypes(k model.EndUserKind) []string {
	if k == model.KindOffice {
		return []string{AccountTypeAll}
	}
	return []string{AccountTypeAll, AccountTypeFamilyMaster, AccountTypeFamilyMember}
}

// endUserProjectKind is the kind of project whose users a list shows.
func endUserProjectKind(k model.EndUserKind) (model.ProjectKind, bool) {
	switch k {
	case model.KindVilla:
		return model.ProjectPersonal, true
	case model.KindCommunity:
		return model.ProjectCommunity, true
	case model.KindOffice:
		return model.ProjectOffice, true
	}
	return "", false
}

func endUserKindOf(p model.ProjectKind) model.EndUserKind {
	switch p {
	case model.ProjectPersonal:
		return model.KindVilla
	case model.ProjectOffice:
		return model.KindOffice
	}
	return model.KindCommunity
}

// CheckEndUserFilter validates an end-user search into v, naming the
// field of each problem; it trims f.Q. The API and the portal call it so
// that every problem of a request is reported at once; ListEndUsers calls
// it again.
func CheckEndUserFilter(f *model.EndUserFilter, v *model.Validator) {
	f.Q = strings.TrimSpace(f.Q)
	if _, ok := endUserProjectKind(f.Kind); !ok {
		if f.Kind == "" {
			v.Add("kind", "is required: villa, community or office")
		} else {
			v.Add("kind", "must be villa, community or office")
		}
		return
	}
	if f.AccountType != "" && !slices.Contains(EndUserAccountTypes(f.Kind), f.AccountType) {
		if f.Kind == model.KindOffice {
			v.Add("account_type", "must be all: office users have no account type")
		} else {
			v.Add("account_type", "must be all, family_master or family_member")
		}
	}
	types := EndUserSearchTypes(f.Kind)
	switch {
	case f.SearchType != "" && !slices.Contains(types, f.SearchType):
		v.Add("search_type", "must be one of %s for %s users", strings.Join(types, ", "), f.Kind)
	case f.SearchType == "" && f.Q != "":
		v.Add("search_type", "is required with q: one of %s", strings.Join(types, ", "))
	}
	v.Check(utf8.RuneCountInString(f.Q) <= MaxEndUserQuery, "q", "must be at most %d characters", MaxEndUserQuery)
}

// endUserListCols are the list's columns: the user, and the names of its
// installer (its account name when it has no name), project and family
// master (a family master's own name; "" for other roles).
const endUserListCols = endUserCols + `,
	CASE WHEN i.name <> '' THEN i.name ELSE i.username END, p.name, p.kind,
	CASE WHEN u.role = 'family_master' THEN u.name ELSE coalesce(m.name, '') END`

func scanEndUserRow(r scanner, extra ...any) (*model.EndUserRow, error) {
	var row model.EndUserRow
	var kind model.ProjectKind
	u := &row.EndUser
	dest := []any{&u.ID, &u.InstallerID, &u.ProjectID, nid(&u.ApartmentID), nid(&u.DepartmentID), &u.Role, nid(&u.FamilyMasterID),
		&u.Name, &u.SIP, &u.Email, &u.Mobile, &u.Phone, &u.Address, &u.Active, &u.Premium, &u.Created, &u.AppExpires, &u.PremiumExpires,
		&row.Installer, &row.Project, &kind, &row.FamilyMaster}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	row.Kind = endUserKindOf(kind)
	if row.Kind == model.KindVilla {
		row.Project = "" // a home, not a community or office
	}
	return &row, nil
}

// likeOp is a LIKE with backslash as its escape character: PostgreSQL's
// default, which its trigram indexes read best without an ESCAPE clause.
func (s *Store) likeOp() string {
	if s.dialect == Postgres {
		return `LIKE ?`
	}
	return `LIKE ? ESCAPE '\'`
}

// indexableContains reports whether a "contains" text can use a trigram
// index: it needs a run of three characters that are not LIKE wildcards.
func indexableContains(q string) bool {
	run := 0
	for _, r := range q {
		if r == '%' || r == '_' {
			run = 0
			continue
		}
		if run++; run >= 3 {
			return true
		}
	}
	return false
}

// endUserSearchColumns maps the searched end_users columns to their SQL
// (case-folded where the column holds letters).
var endUserSearchColumns = map[string]string{"name": "lower(%s.name)", "email": "lower(%s.email)", "mobile": "%s.mobile"}

// containsCond is a case-insensitive "contains" q on column col ("name",
// "email" or "mobile") of the end_users row aliased a. indexed says
// whether an index finds the rows: SQLite's trigram table (unless fts is
// false), or PostgreSQL's trigram indexes.
func (s *Store) containsCond(a, col, q string, fts bool) (cond string, args []any, indexed bool) {
	expr := strings.ReplaceAll(endUserSearchColumns[col], "%s", a)
	pat := likeContains(q)
	cond, args = expr+" "+s.likeOp(), []any{pat}
	if !indexableContains(q) || (s.dialect == SQLite && !fts) {
		return cond, args, false
	}
	if s.dialect == SQLite {
		// The trigram table narrows to the rows holding the text's trigrams
		// (its LIKE takes no escape, so wildcards in q only widen it); the
		// exact, escaped test follows.
		return a + ".id IN (SELECT rowid FROM end_users_search WHERE " + col + " LIKE ?) AND " + cond,
			append([]any{"%" + strings.ToLower(q) + "%"}, args...), true
	}
	return cond, args, true
}

// prefixCond is "column col starts with q" (case-sensitive: SIP numbers).
func (s *Store) prefixCond(col, q string) (string, []any) {
	if s.dialect == Postgres {
		r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
		return col + ` LIKE ?`, []any{r.Replace(q) + "%"} // end_users_sip_prefix (text_pattern_ops)
	}
	// The range reads the sip index (binary collation); U+10FFFF sorts
	// after every character that can follow the prefix.
	return col + ` >= ? AND ` + col + ` < ?`, []any{q, q + "\U0010FFFF"}
}

// customPlan makes PostgreSQL plan a list's query for its arguments each
// time (an unnamed statement) instead of settling, after a few runs of a
// cached statement, on one generic plan: a "contains" text of two letters
// and one of twelve want different plans (a generic plan reading the
// trigram index for '%ab%' takes seconds at a million users).
func (s *Store) customPlan(args []any) []any {
	if s.dialect != Postgres {
		return args
	}
	return append([]any{pgx.QueryExecModeExec}, args...)
}

// endUserPrep is what a list learns before its own queries: whether
// SQLite's trigram table pays for the search text, and the ids a search
// by installer or by family master stands for, resolved once when they
// are few (the lists then read one installer's users in date order, or a
// few households, instead of joining the search into every row).
type endUserPrep struct {
	fts      bool
	ids      []int64 // installers (installer search) or family masters (family master search)
	resolved bool    // ids holds every match of the search in the actor's subtree
}

// maxResolved bounds the ids a search is resolved to.
const maxResolved = 500

func (s *Store) prepareEndUserSearch(ctx context.Context, act *model.Actor, f model.EndUserFilter) (endUserPrep, error) {
	pre := endUserPrep{fts: true}
	if f.Q == "" {
		return pre, nil
	}
	var err error
	if pre.fts, err = s.ftsSelective(ctx, f); err != nil {
		return pre, err
	}
	var q string
	var args []any
	switch f.SearchType {
	case "installer":
		// The Installer column: the installer's name, or its account name.
		p := likeContains(f.Q)
		scope, sargs := accountScope(act, "ia")
		q = `SELECT ia.id FROM accounts ia WHERE ia.role = 'installer' AND ` + scope + ` AND
			(lower(ia.name) ` + s.likeOp() + ` OR lower(ia.username) ` + s.likeOp() + `)`
		args = append(sargs, p, p)
	case "family_master":
		mc, margs, indexed := s.containsCond("fm", "name", f.Q, pre.fts)
		col := "fm.installer_id"
		if indexed && s.dialect == SQLite {
			col = "+" + col // the trigram table leads
		}
		scope, sargs := installerScope(act, col)
		q = `SELECT fm.id FROM end_users fm WHERE fm.role = 'family_master' AND ` + scope + ` AND ` + mc
		args = append(sargs, margs...)
	default:
		return pre, nil
	}
	rows, err := s.query(ctx, q+` LIMIT ?`, s.customPlan(append(args, maxResolved+1))...)
	if err != nil {
		return pre, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return pre, err
		}
		ids = append(ids, id)
	}
	if len(ids) <= maxResolved {
		pre.ids, pre.resolved = ids, true
	}
	return pre, rows.Err()
}

// idList is "(?,?,…)" for ids, and the ids as arguments.
func idList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")", args
}

// endUserSearch builds the Search Type condition on the end_users row u.
// drives says whether it is selective enough to lead the query through
// its own index (instead of reading the list in date order).
func (s *Store) endUserSearch(act *model.Actor, f model.EndUserFilter, pre endUserPrep) (cond string, args []any, drives bool) {
	q := f.Q
	switch f.SearchType {
	case "sip":
		cond, args = s.prefixCond("u.sip", q)
		return cond, args, true
	case "name", "email", "mobile":
		return s.containsCond("u", f.SearchType, q, pre.fts)
	case "installer":
		if pre.resolved {
			if len(pre.ids) == 1 {
				return `u.installer_id = ?`, []any{pre.ids[0]}, true // its users in date order
			}
			list, args := idList(pre.ids)
			return `u.installer_id IN ` + list, args, true
		}
		p := likeContains(q)
		scope, sargs := accountScope(act, "ia")
		return `u.installer_id IN (SELECT ia.id FROM accounts ia WHERE ia.role = 'installer' AND ` + scope + ` AND
			(lower(ia.name) ` + s.likeOp() + ` OR lower(ia.username) ` + s.likeOp() + `))`, append(sargs, p, p), true
	case "office":
		return `u.project_id IN (SELECT op.id FROM projects op WHERE op.kind = 'office' AND lower(op.name) ` + s.likeOp() + `)`,
			[]any{likeContains(q)}, true
	case "family_master":
		// The Family Master column: a family master's own name, a family
		// member's master's name.
		if pre.resolved {
			list, args := idList(pre.ids)
			return `(u.id IN ` + list + ` OR u.family_master_id IN ` + list + `)`, append(args, args...), true
		}
		mc, margs, indexed := s.containsCond("fm", "name", q, pre.fts)
		if !indexed {
			return `lower(CASE WHEN u.role = 'family_master' THEN u.name
				ELSE (SELECT fm.name FROM end_users fm WHERE fm.id = u.family_master_id) END) ` + s.likeOp(),
				[]any{likeContains(q)}, false
		}
		masters := `SELECT fm.id FROM end_users fm WHERE fm.role = 'family_master' AND ` + mc
		return `u.id IN (` + masters + ` UNION ALL SELECT ff.id FROM end_users ff WHERE ff.family_master_id IN (` + masters + `))`,
			append(slices.Clone(margs), margs...), true
	}
	return "", nil, false
}

// ftsDense is the number of users holding a text from which SQLite's
// trigram table stops paying: reading that many candidates costs more than
// walking the list in date order to the first page (the text is in at
// least 2% of a million users) and counting to the cap.
const ftsDense = 20_000

// ftsSelective tells whether a "contains" search should read SQLite's
// trigram table: it asks the table how many users hold the text, up to
// ftsDense. Other searches and back ends answer true (nothing to decide).
func (s *Store) ftsSelective(ctx context.Context, f model.EndUserFilter) (bool, error) {
	col := f.SearchType
	if col == "family_master" {
		col = "name"
	}
	if s.dialect != SQLite || f.Q == "" || endUserSearchColumns[col] == "" || !indexableContains(f.Q) {
		return true, nil
	}
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM end_users_search WHERE `+col+` LIKE ? LIMIT ?) c`,
		"%"+strings.ToLower(f.Q)+"%", ftsDense).Scan(&n)
	return n < ftsDense, err
}

// endUserWhere is the WHERE clause of a list. forCount shapes it for the
// capped count rather than the page. On SQLite, which plans without
// statistics, a leading + keeps a column's index out of the plan so that
// the query reads the one index that suits it: the search's own when it is
// selective, else the date index for the page (the first rows in order
// are found after a short walk) and the project index for the count.
// PostgreSQL plans from its statistics and gets no hints.
func (s *Store) endUserWhere(act *model.Actor, f model.EndUserFilter, pre endUserPrep, forCount bool) (where string, args []any, lead string) {
	kind, _ := endUserProjectKind(f.Kind)
	search, searchArgs, drives := "", []any(nil), false
	if f.Q != "" {
		search, searchArgs, drives = s.endUserSearch(act, f, pre)
	}
	// Which condition leads: "search", "project" (one project), "kind"
	// (the projects of the kind in scope), "installer" (one installer's
	// users in date order) or "" (the date index).
	switch {
	case drives:
		lead = "search"
	case f.ProjectID != 0:
		lead = "project"
	case forCount:
		lead = "kind"
	case act.Role == model.RoleInstaller || f.InstallerID != 0:
		lead = "installer"
	}
	col := func(c, who string) string {
		if s.dialect == SQLite && lead != who {
			return "+" + c
		}
		return c
	}
	var conds []string
	// The kind: on the joined project (p), or for SQLite's count as the
	// kind's projects of the actor's subtree, which the project index
	// then covers.
	if forCount && s.dialect == SQLite {
		pscope, pargs := installerScope(act, "kp.installer_id")
		conds = append(conds, col("u.project_id", "kind")+` IN (SELECT kp.id FROM projects kp WHERE kp.kind = ? AND `+pscope+`)`)
		args = append(append(args, string(kind)), pargs...)
	} else {
		conds = append(conds, `p.kind = ?`)
		args = append(args, string(kind))
	}
	// Tenancy, on the user's installer.
	scope, sargs := installerScope(act, col("u.installer_id", "installer"))
	conds = append(conds, scope)
	args = append(args, sargs...)
	if f.InstallerID != 0 {
		conds = append(conds, col("u.installer_id", "installer")+` = ?`)
		args = append(args, f.InstallerID)
	}
	if f.ProjectID != 0 {
		conds = append(conds, col("u.project_id", "project")+` = ?`)
		args = append(args, f.ProjectID)
	}
	switch f.AccountType {
	case AccountTypeFamilyMaster, AccountTypeFamilyMember:
		conds = append(conds, `u.role = ?`)
		args = append(args, f.AccountType)
	}
	if search != "" {
		conds = append(conds, search)
		args = append(args, searchArgs...)
	}
	return strings.Join(conds, " AND "), args, lead
}

// ListEndUsers is the User module's Villa User, Community User and Office
// User list of the actor's subtree: the users of projects of the list's
// kind (property managers are community users), filtered by Account Type
// and by Search Type + text, newest first. SIP matches as a prefix (an
// exact number is its own prefix); the other search types are
// case-insensitive "contains" on the column of that name in the list.
// Total counts at most EndUserCountCap+1 users: more than EndUserCountCap
// means "more than that many".
func (s *Store) ListEndUsers(ctx context.Context, f model.EndUserFilter) (model.List[*model.EndUserRow], error) {
	out := model.List[*model.EndUserRow]{Page: f.Page.Page, PerPage: f.PerPage, Items: []*model.EndUserRow{}}
	act, err := actor(ctx)
	if err != nil {
		return out, err
	}
	var v model.Validator
	CheckEndUserFilter(&f, &v)
	if err := v.Err(); err != nil {
		return out, err
	}
	if f.Page.Page < 1 || f.PerPage < 1 {
		f.Page = model.Page{Page: max(f.Page.Page, 1), PerPage: model.DefaultPerPage}
		out.Page, out.PerPage = f.Page.Page, f.PerPage
	}
	pre, err := s.prepareEndUserSearch(ctx, act, f)
	if err != nil {
		return out, err
	}
	if pre.resolved && len(pre.ids) == 0 {
		return out, nil // no such installer or family master
	}
	where, args, _ := s.endUserWhere(act, f, pre, true)
	from := `end_users u`
	if s.dialect != SQLite {
		from += ` JOIN projects p ON p.id = u.project_id`
	}
	if err := s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+from+` WHERE `+where+` LIMIT ?) c`,
		s.customPlan(append(args, EndUserCountCap+1))...).Scan(&out.Total); err != nil {
		return out, err
	}
	if f.Page.Offset() >= out.Total && out.Total <= EndUserCountCap {
		return out, nil // past the end: nothing to read
	}
	where, args, lead := s.endUserWhere(act, f, pre, false)
	// How PostgreSQL reads the page (SQLite follows the hints in where):
	// when the count stopped at the cap, the matches are dense and the
	// first of them in date order are found after a short walk of the
	// date index (and one installer's users are in date order in its own
	// index); otherwise at most EndUserCountCap users match, and finding
	// them all through the search's own index and sorting them is safe,
	// whereas a walk is a gamble on an estimate (a name held by a few
	// dozen users is estimated at thousands, and the walk then reads the
	// whole table to fill the page).
	walk := out.Total > EndUserCountCap || lead == "installer" || (lead == "" && out.Total > EndUserCountCap/10)
	order := `u.created_at DESC, u.id DESC`
	if s.dialect == Postgres && !walk {
		order = `u.created_at + interval '0 seconds' DESC, u.id DESC` // the same order, which no index provides
	}
	// CROSS JOIN keeps SQLite's join order (users first, in the order of
	// their index); to PostgreSQL it is an ordinary join.
	query := `SELECT ` + endUserListCols + ` FROM end_users u CROSS JOIN projects p
		JOIN accounts i ON i.id = u.installer_id LEFT JOIN end_users m ON m.id = u.family_master_id
		WHERE p.id = u.project_id AND ` + where + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	args = s.customPlan(append(args, f.PerPage, f.Page.Offset()))
	read := func(q querier) error {
		rows, err := q.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			it, err := scanEndUserRow(rows)
			if err != nil {
				return err
			}
			out.Items = append(out.Items, it)
		}
		return rows.Err()
	}
	if s.dialect != Postgres || !walk {
		return out, read(s.db)
	}
	// Keep PostgreSQL on the walk: it estimates the users of one kind of
	// project from the share of those projects (communities are few but
	// hold most users) and would rather sort every user in scope; and
	// spare it the JIT compilation and parallel workers a walk's cost
	// estimate invites (they cost more than the walk). For this query only.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return out, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL enable_sort = off; SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0`); err != nil {
		return out, err
	}
	if err := read(tx); err != nil {
		return out, err
	}
	return out, tx.Commit()
}

// GetEndUserRow returns an end user of the actor's subtree as the lists
// show it, with its apartment or department for the detail view.
func (s *Store) GetEndUserRow(ctx context.Context, id int64) (*model.EndUserRow, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	cond, args := installerScope(act, "u.installer_id")
	var building, number, dept string
	row, err := scanEndUserRow(s.queryRow(ctx, `SELECT `+endUserListCols+`, coalesce(b.name, ''), coalesce(a.number, ''),
		coalesce(d.name, '')
		FROM end_users u JOIN projects p ON p.id = u.project_id JOIN accounts i ON i.id = u.installer_id
		LEFT JOIN end_users m ON m.id = u.family_master_id
		LEFT JOIN apartments a ON a.id = u.apartment_id LEFT JOIN buildings b ON b.id = a.building_id
		LEFT JOIN departments d ON d.id = u.department_id
		WHERE u.id = ? AND `+cond, append([]any{id}, args...)...), &building, &number, &dept)
	if isNoRows(err) {
		return nil, model.NotFound("end user")
	} else if err != nil {
		return nil, err
	}
	if number != "" {
		row.Apartment = apartmentLabel(building, number)
	}
	row.Department = dept
	return row, nil
}
