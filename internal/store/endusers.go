package store

import (
	"context"
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
	v.Check(f.ExpiringDays >= 0 && f.ExpiringDays <= model.MaxExpiringDays, "expiring", "must be a number of days from 1 to %d", model.MaxExpiringDays)
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

// idList is "(?,?,…)" for ids, and the ids as arguments.
func idList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")", args
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
