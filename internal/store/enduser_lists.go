package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The User module's Villa User, Community User and Office User lists, fast
// at a million end users, read as the device lists are (device_lists.go;
// the indexes are in migrations/*/00021_enduser_lists.sql).
//
// Every end user carries its project's kind and the distributor and
// sub-distributor above its installer, and each level of the tree has a
// list index (scope, kind, created_at, id, role, installer, project). A
// list first counts its matches, at most EndUserCountCap+1, through the
// most selective index its search offers: the name (or Family Master)
// words of the level's scope, the SIP index, the users of the installers
// or offices a search names, SQLite's trigram table (PostgreSQL's
// trigram indexes) for an email or mobile text that few users hold (the
// candidates read once, their matches counted and paged from one read);
// else through the list index. When at most EndUserCountCap users match, the
// page is read through that same index and sorted; when more match, they
// are dense, and the page is read from the words index when the text
// starts few distinct words in a scope it is keyed by (endUserWordsPage),
// else found by walking the list index newest first.
// An email or mobile text that many users hold, or one too short for the
// trigram index, in a list of more than EndUserCountCap users, is refused
// (400 naming q): it cannot be counted fast.
//
// The expiring filter (App service expiring from now to now + N days, the
// dashboard's figure) is read, with no search text, through the level's
// expiry index (migrations/*/00029_dashboard.sql: scope, kind, expiry,
// then the date order's columns): the window is one range of it, counted
// and, when short, sorted from the index alone; when more than
// EndUserCountCap users expire in it, the page walks the list index.

// endUserProbe: an email or mobile text held by fewer users than this on
// the whole platform is looked up through the trigram index. SQLite's
// trigram table tests each candidate's text (its LIKE reads the row), so
// the probe itself costs in proportion.
const endUserProbe = 1_000

// maxResolved bounds the installers (installer search) or offices (office
// search) a search is resolved to before the users are read.
const maxResolved = 500

// endUserLevel is the actor's level of the tree: its list index and the
// condition on the end user (u) that scopes it, and its words index and the
// condition on the word (w) that scopes that.
type endUserLevel struct {
	list, words string
	cond        string
	args        []any
	wcond       string
	wargs       []any
	// wordsKeyed: the words index's leading columns are the scope (the
	// admin's, a sub-distributor's), so one word's users in scope are one
	// range of it, newest first.
	wordsKeyed bool
	// expiry: the level's index of the expiring filter.
	expiry string
}

func endUserLevelOf(act *model.Actor) endUserLevel {
	id := []any{act.AccountID}
	switch act.Role {
	case model.RoleAdmin:
		return endUserLevel{idxEndUsersListAll, idxEndUserWordsAll, "1=1", nil, "1=1", nil, true, idxEndUsersExpiryAll}
	case model.RoleDistributor:
		return endUserLevel{idxEndUsersListDist, idxEndUserWordsAll, "u.distributor_id = ?", id, "w.distributor_id = ?", id, false, idxEndUsersExpiryAll}
	case model.RoleSubdistributor:
		return endUserLevel{idxEndUsersListSub, idxEndUserWordsSub, "u.subdistributor_id = ?", id, "w.subdistributor_id = ?", id, true, idxEndUsersExpirySub}
	}
	if act.SubdistributorID != 0 {
		return endUserLevel{idxEndUsersListInst, idxEndUserWordsSub, "u.installer_id = ?", id,
			"w.subdistributor_id = ? AND w.installer_id = ?", []any{act.SubdistributorID, act.AccountID}, false, idxEndUsersExpiryInst}
	}
	return endUserLevel{idxEndUsersListInst, idxEndUserWordsAll, "u.installer_id = ?", id, "w.installer_id = ?", id, false, idxEndUsersExpiryInst}
}

// Drivers: the index a list's count (and a short list's page) is read through.
const (
	euDriveList       = ""           // the level's list index
	euDriveWords      = "words"      // the level's words index (name, family master)
	euDriveSIP        = "sip"        // the SIP index
	euDriveInstallers = "installers" // the users of the installers an installer search names
	euDriveOffices    = "offices"    // the users of the offices an office search names
	euDriveText       = "text"       // the trigram index (email, mobile)
	euDriveProject    = "project"    // one project's users (a list narrowed to a project)
	euDriveExpiry     = "expiry"     // the level's expiry index (the expiring filter)
)

// endUserSearch is a list request with what was learnt before its queries.
type endUserSearch struct {
	lvl  endUserLevel
	f    model.EndUserFilter
	kind model.ProjectKind
	role string // the Account Type's role, "" for all
	// A name or family master search: the field of end_user_words and the
	// search text, its words joined by single spaces.
	field, words string
	// An installer or office search: the installers (offices) it names,
	// or, when there are more than maxResolved, a subquery finding them.
	ids     []int64
	idsSQL  string
	idsArgs []any
	// An email or mobile search that few users match: the users holding
	// the part of the text the trigram index was asked for (a superset
	// of the matches), read once.
	textIDs []int64
	// The expiring filter's window (app_expires_at from expFrom to before
	// expTo); zero without the filter.
	expFrom, expTo time.Time
}

// expiring reports whether the search has the expiring filter.
func (q *endUserSearch) expiring() bool { return !q.expTo.IsZero() }

// baseDriver is the driver of a search with no text to narrow it: the
// expiry index with the expiring filter, else the list index.
func (q *endUserSearch) baseDriver() string {
	if q.expiring() {
		return euDriveExpiry
	}
	return euDriveList
}

// searchWords is a name search split as the migrations split names: at
// spaces and tabs, the words joined by one space.
func searchWords(q string) string {
	return strings.Join(strings.FieldsFunc(q, func(r rune) bool { return r == ' ' || r == '\t' }), " ")
}

// wordRange is the condition that a word of alias a (end_user_words) in
// field starts with text, case-folded as the words are (by the database's
// lower(), in SQL on both sides), compared byte by byte.
func (s *Store) wordRange(a, field, text string) (string, []any) {
	c := ""
	if s.dialect == Postgres {
		c = ` COLLATE "C"`
	}
	return a + `.field = ? AND ` + a + `.word >= lower(?)` + c + ` AND ` + a + `.word < lower(?)` + c,
		[]any{field, text, text + "\U0010FFFF"}
}

// lastMatchingWord is the condition that word a.word (which starts with
// the search's words) is the last of its user's words to start with them:
// no later word of it does (a word of end_user_words runs to the end of
// the text, so a later start of the words inside it is another row of the
// same user). It makes each matching user one row of the range, counted
// and sorted from the index without DISTINCT, which would collect every
// user id of a range in a temporary b-tree first (a common last name:
// 10,000 of them for the count alone).
func (s *Store) lastMatchingWord(a, text string) string {
	if s.dialect == Postgres {
		return "strpos(substr(" + a + ".word, 2), ' ' || lower(?)) = 0"
	}
	return "instr(substr(" + a + ".word, 2), ' ' || lower(?)) = 0"
}

// where is the WHERE clause of the search read through driver, and the
// table (with the index SQLite must read: it plans without statistics;
// PostgreSQL plans from its statistics and gets no hints). The words
// driver reads end_user_words w, the others end_users u.
func (s *Store) endUserWhere(q *endUserSearch, driver string) (table, where string, args []any) {
	f := q.f
	lite := s.dialect == SQLite
	hint := func(t, idx string) string {
		if lite {
			return t + indexedBy(idx)
		}
		return t
	}
	var conds []string
	if driver == euDriveWords {
		table = hint("end_user_words w", q.lvl.words)
		wr, wargs := s.wordRange("w", q.field, q.words)
		conds = append(conds, q.lvl.wcond, "w.project_kind = ?", wr, s.lastMatchingWord("w", q.words))
		args = append(append(append(args, q.lvl.wargs...), string(q.kind)), wargs...)
		args = append(args, q.words)
		if q.role != "" {
			conds = append(conds, "w.role = ?")
			args = append(args, q.role)
		}
		if f.InstallerID != 0 {
			conds = append(conds, "w.installer_id = ?")
			args = append(args, f.InstallerID)
		}
		if q.expiring() {
			conds = append(conds, "EXISTS (SELECT 1 FROM end_users e WHERE e.id = w.user_id AND e.app_expires_at >= ? AND e.app_expires_at < ?)")
			args = append(args, q.expFrom, q.expTo)
		}
		return table, strings.Join(conds, " AND "), args
	}
	switch driver {
	case euDriveList:
		if f.InstallerID != 0 {
			table = hint("end_users u", idxEndUsersListInst) // one installer's users
		} else {
			table = hint("end_users u", q.lvl.list)
		}
	case euDriveExpiry:
		if f.InstallerID != 0 {
			table = hint("end_users u", idxEndUsersExpiryInst) // one installer's users
		} else {
			table = hint("end_users u", q.lvl.expiry)
		}
	case euDriveProject:
		table = hint("end_users u", idxEndUsersProjectCreated)
	case euDriveSIP:
		table = hint("end_users u", idxEndUsersSIPScope)
	case euDriveInstallers:
		table = hint("end_users u", idxEndUsersListInst)
	case euDriveOffices:
		table = hint("end_users u", idxEndUsersProjectCreated)
	case euDriveText:
		table = "end_users u"
		if lite {
			table += " NOT INDEXED" // the candidates' ids lead
		}
	}
	switch driver {
	case euDriveInstallers, euDriveOffices:
		// The installers (offices) were found in the actor's subtree, and
		// hold no user of another: they scope the users.
	default:
		conds = append(conds, q.lvl.cond)
		args = append(args, q.lvl.args...)
	}
	if driver != euDriveOffices {
		conds = append(conds, "u.project_kind = ?")
		args = append(args, string(q.kind))
	}
	if q.role != "" {
		conds = append(conds, "u.role = ?")
		args = append(args, q.role)
	}
	if f.InstallerID != 0 {
		conds = append(conds, "u.installer_id = ?")
		args = append(args, f.InstallerID)
	}
	if f.ProjectID != 0 {
		conds = append(conds, "u.project_id = ?")
		args = append(args, f.ProjectID)
	}
	if q.expiring() {
		conds = append(conds, "u.app_expires_at >= ? AND u.app_expires_at < ?")
		args = append(args, q.expFrom, q.expTo)
	}
	text := f.Q
	switch f.SearchType {
	case "":
	case "sip":
		c := ""
		if !lite {
			c = ` COLLATE "C"`
		}
		conds = append(conds, "u.sip"+c+" >= ? AND u.sip"+c+" < ?")
		args = append(args, text, text+"\U0010FFFF")
	case "name", "family_master":
		// Walking the list: the name the list index holds starts a word
		// with the text (as a word of end_user_words would); a family
		// member's Family Master column is its master's name, which its
		// words hold.
		nameCond := "instr(' ' || replace(lower(u.name), char(9), ' '), ' ' || lower(?)) > 0"
		if !lite {
			nameCond = "strpos(' ' || replace(lower(u.name), chr(9), ' '), ' ' || lower(?)) > 0"
		}
		if f.SearchType == "name" {
			conds = append(conds, nameCond)
			args = append(args, q.words)
			break
		}
		// PostgreSQL would read every word to hash the subquery once
		// (OFFSET 0 keeps it a probe of the user's own words).
		pgNoHash := ""
		if !lite {
			pgNoHash = " OFFSET 0"
		}
		wr, wargs := s.wordRange("x", q.field, q.words)
		conds = append(conds, "CASE WHEN u.role = 'family_master' THEN "+nameCond+
			" ELSE EXISTS (SELECT 1 FROM end_user_words x WHERE x.user_id = u.id AND "+wr+pgNoHash+") END")
		args = append(append(args, q.words), wargs...)
	case "installer", "office":
		col := "u.installer_id"
		if f.SearchType == "office" {
			col = "u.project_id"
		}
		if q.idsSQL != "" {
			conds = append(conds, col+" IN ("+q.idsSQL+")")
			args = append(args, q.idsArgs...)
		} else {
			list, a := idList(q.ids)
			conds = append(conds, col+" IN "+list)
			args = append(args, a...)
		}
	case "email", "mobile":
		col := "u." + f.SearchType
		if f.SearchType == "email" {
			col = "lower(" + col + ")"
		}
		if driver == euDriveText {
			// The candidates fewHoldText found through the trigram index
			// (fewer than endUserProbe, at least one): asking the index
			// again per query cost as much as the rest of the list.
			list, a := idList(q.textIDs)
			conds = append(conds, "u.id IN "+list)
			args = append(args, a...)
			if !lite {
				// Not through the trigram index: PostgreSQL would ask it
				// for the whole text (all of its trigrams, 10–50 ms)
				// rather than read the candidates by id.
				col = "(" + col + " || '')"
			}
		}
		conds = append(conds, col+" "+s.likeOp())
		args = append(args, likeContains(text))
	}
	return table, strings.Join(conds, " AND "), args
}

// endUserCount counts the search's matches through driver, at most
// EndUserCountCap+1 (the words driver reads one word per user:
// lastMatchingWord).
func (s *Store) endUserCount(ctx context.Context, q *endUserSearch, driver string) (int, error) {
	table, where, args := s.endUserWhere(q, driver)
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+table+` WHERE `+where+` LIMIT ?) c`,
		s.customPlan(append(args, EndUserCountCap+1))...).Scan(&n)
	return n, err
}

// resolveEndUserSearch finds the installers (installer search: the
// Installer column, its name or else its account name) or offices (office
// search) of the actor's subtree that the search text names.
func (s *Store) resolveEndUserSearch(ctx context.Context, act *model.Actor, q *endUserSearch) error {
	p := likeContains(q.f.Q)
	var sub string
	var args []any
	if q.f.SearchType == "installer" {
		scope, sargs := accountScope(act, "ia")
		sub = `SELECT ia.id FROM accounts ia WHERE ia.role = 'installer' AND ` + scope + ` AND
			(lower(ia.name) ` + s.likeOp() + ` OR lower(ia.username) ` + s.likeOp() + `)`
		args = append(sargs, p, p)
	} else {
		scope, sargs := installerScope(act, "op.installer_id")
		sub = `SELECT op.id FROM projects op WHERE op.kind = 'office' AND ` + scope + ` AND lower(op.name) ` + s.likeOp()
		args = append(sargs, p)
	}
	rows, err := s.query(ctx, sub+` LIMIT ?`, s.customPlan(append(args, maxResolved+1))...)
	if err != nil {
		return err
	}
	ids, err := scanIDs(rows)
	if err != nil {
		return err
	}
	if len(ids) > maxResolved {
		q.idsSQL, q.idsArgs = sub, args
	} else {
		q.ids = ids
	}
	return rows.Err()
}

// fewHoldText reports whether fewer than endUserProbe users of the whole
// platform hold text (or a distinctive part of it, trigramNeedles) in
// column col (email or mobile), found through the trigram index; if so
// they are the search's candidates (q.textIDs).
func (s *Store) fewHoldText(ctx context.Context, q *endUserSearch, col, text string) (bool, error) {
	if !indexableContains(text) {
		return false, nil // trigrams cannot find it: fewer than three characters in a row
	}
	probe := func(needle string) ([]int64, error) {
		query := `SELECT rowid FROM end_users_search WHERE ` + col + ` LIKE ? LIMIT ?`
		args := []any{"%" + strings.ToLower(needle) + "%", endUserProbe}
		if s.dialect == Postgres {
			expr := "u." + col
			if col == "email" {
				expr = "lower(" + expr + ")"
			}
			query = `SELECT u.id FROM end_users u WHERE ` + expr + ` LIKE ? LIMIT ?`
			args = s.customPlan([]any{likeContains(needle), endUserProbe})
		}
		rows, err := s.query(ctx, query, args...)
		if err != nil {
			return nil, err
		}
		return scanIDs(rows)
	}
	for _, needle := range trigramNeedles(col, text) {
		ids, err := probe(needle)
		if err != nil || len(ids) < endUserProbe {
			q.textIDs = ids
			return err == nil, err
		}
	}
	return false, nil
}

// trigramNeedles are the parts of an email or mobile text that the
// trigram index (SQLite's table, PostgreSQL's pg_trgm) is asked for, in
// turn, until one is held by few users: the index reads the list of users
// of each trigram of the part, so a short distinctive part finds a few
// candidates at a fraction of the cost, and the whole text is then tested
// on each. An email's longest run of four or more digits before its @
// (numbers are what tell addresses built on the same name apart: at a
// million users, "155068" reads 30 index pages and the address before
// the @ 440), then the address before the @ (a mail domain's trigrams
// hold a large share of the users); a phone number's longest run of
// digits (those of spaced digit groups do too). The last is the text.
func trigramNeedles(col, text string) []string {
	var parts []string
	add := func(part string) {
		if indexableContains(part) && !slices.Contains(parts, part) {
			parts = append(parts, part)
		}
	}
	switch col {
	case "email":
		local, _, _ := strings.Cut(text, "@")
		if digits := longestDigitRun(local); len(digits) >= 4 {
			add(digits)
		}
		add(local)
	case "mobile":
		add(longestDigitRun(text))
	}
	add(text)
	return parts
}

// longestDigitRun is the longest run of ASCII digits in text (the last of
// equals), "" when there is none.
func longestDigitRun(text string) string {
	best, run := "", 0
	for i, r := range text + " " {
		if r >= '0' && r <= '9' {
			run++
			continue
		}
		if run > 0 && run >= len(best) {
			best = text[i-run : i]
		}
		run = 0
	}
	return best
}

// endUserDriver picks the index the count (and a short list's page) reads,
// or refuses a search that cannot be answered fast.
func (s *Store) endUserDriver(ctx context.Context, q *endUserSearch) (string, error) {
	f := q.f
	if f.ProjectID != 0 && f.SearchType != "sip" {
		return euDriveProject, nil // a project's users are few
	}
	switch f.SearchType {
	case "":
		return q.baseDriver(), nil
	case "sip":
		return euDriveSIP, nil
	case "name", "family_master":
		if q.expiring() {
			// The window's users or the name's, whichever are fewer:
			// both counts read one index range, at most
			// EndUserCountCap+1 rows.
			window, name := *q, *q
			window.f.SearchType, window.f.Q = "", ""
			name.expFrom, name.expTo = time.Time{}, time.Time{}
			nw, err := s.endUserCount(ctx, &window, euDriveExpiry)
			if err != nil {
				return "", err
			}
			nn, err := s.endUserCount(ctx, &name, euDriveWords)
			if err != nil || nw < nn {
				return euDriveExpiry, err
			}
		}
		return euDriveWords, nil
	case "installer":
		if q.idsSQL == "" {
			return euDriveInstallers, nil
		}
		return q.baseDriver(), nil
	case "office":
		if q.idsSQL == "" {
			return euDriveOffices, nil
		}
		return q.baseDriver(), nil
	}
	// email, mobile
	few, err := s.fewHoldText(ctx, q, f.SearchType, f.Q)
	if err != nil || few {
		return euDriveText, err
	}
	// A text many users hold (or one too short to look up) is tested on
	// every user of the list: only when the list is short.
	all := *q
	all.f.SearchType, all.f.Q = "", ""
	n, err := s.endUserCount(ctx, &all, all.baseDriver())
	if err != nil || n <= EndUserCountCap {
		return q.baseDriver(), err
	}
	label := map[string]string{"email": "email address", "mobile": "mobile number"}[f.SearchType]
	if !indexableContains(f.Q) {
		return "", model.Invalid("q", "type at least 3 characters of the %s: a shorter text cannot be searched for among more than %s %s users",
			label, thousandsSep(EndUserCountCap), f.Kind)
	}
	return "", model.Invalid("q", "%q is part of the %s of too many users to search for among more than %s %s users: type more of it, or narrow the list first",
		f.Q, label, thousandsSep(EndUserCountCap), f.Kind)
}

// ListEndUsers is the User module's Villa User, Community User and Office
// User list of the actor's subtree: the users of projects of the list's
// kind (property managers are community users), filtered by Account Type
// and by Search Type + text, and to the users whose App service expires
// within ExpiringDays days (from now on) when it is set, newest first. SIP matches as a prefix (an
// exact number is its own prefix). Name and Family Master match from the
// start of a word of that column, in any case: "smi" and "anna sm" find
// Anna Smith, "mith" does not. Email and Mobile Number are
// case-insensitive "contains"; Installer (its name, or account name) and
// Office too. Total counts at most EndUserCountCap+1 users: more than
// EndUserCountCap means "more than that many". An email or mobile text
// too common (or too short) to count fast in a list of more than
// EndUserCountCap users is refused, naming q.
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
	if f.Q == "" {
		f.SearchType = ""
	}
	kind, _ := endUserProjectKind(f.Kind)
	q := &endUserSearch{lvl: endUserLevelOf(act), f: f, kind: kind}
	if f.ExpiringDays > 0 {
		// The dashboard's definition (RecomputeDashboard): from now on,
		// before now + the days.
		now := s.now().UTC()
		q.expFrom, q.expTo = now, now.AddDate(0, 0, f.ExpiringDays)
	}
	if f.AccountType == AccountTypeFamilyMaster || f.AccountType == AccountTypeFamilyMember {
		q.role = f.AccountType
	}
	switch f.SearchType {
	case "name":
		q.field, q.words = "name", searchWords(f.Q)
	case "family_master":
		q.field, q.words = "master", searchWords(f.Q)
	case "installer", "office":
		if err := s.resolveEndUserSearch(ctx, act, q); err != nil {
			return out, err
		}
		if q.idsSQL == "" && len(q.ids) == 0 {
			return out, nil // no such installer or office
		}
	}
	driver, err := s.endUserDriver(ctx, q)
	if err != nil {
		return out, err
	}
	if driver == euDriveText {
		// Few candidates: their matches are read in one query, counted
		// and paged here.
		if len(q.textIDs) == 0 {
			return out, nil
		}
		ids, err := s.endUserPageIDs(ctx, q, driver, false, 0, endUserProbe)
		if err != nil {
			return out, err
		}
		out.Total = len(ids)
		if off := f.Page.Offset(); off < len(ids) {
			ids = ids[off:min(len(ids), off+f.PerPage)]
			out.Items, err = s.endUserRows(ctx, ids)
		}
		return out, err
	}
	if out.Total, err = s.endUserCount(ctx, q, driver); err != nil {
		return out, err
	}
	dense := out.Total > EndUserCountCap
	if f.Page.Offset() >= out.Total && !dense {
		return out, nil // past the end: nothing to read
	}
	var ids []int64
	merged := false
	if dense && driver == euDriveWords {
		ids, merged, err = s.endUserWordsPage(ctx, q)
		if err != nil {
			return out, err
		}
	}
	if !merged {
		ids, err = s.endUserPageIDs(ctx, q, driver, dense, f.Page.Offset(), f.PerPage)
	}
	if err != nil || len(ids) == 0 {
		return out, err
	}
	out.Items, err = s.endUserRows(ctx, ids)
	return out, err
}

// endUserPageIDs reads the ids of limit users from offset on, newest
// first. A short list (not dense) is read through driver and sorted; a
// dense one is found by walking the level's list index.
func (s *Store) endUserPageIDs(ctx context.Context, q *endUserSearch, driver string, dense bool, offset, limit int) ([]int64, error) {
	if dense {
		driver = euDriveList
	}
	table, where, args := s.endUserWhere(q, driver)
	a := "u"
	sel := "u.created_at, u.id"
	if driver == euDriveWords {
		a, sel = "w", "w.created_at, w.user_id"
	}
	order := a + `.created_at DESC, ` + a + `.` + map[string]string{"u": "id", "w": "user_id"}[a] + ` DESC`
	if s.dialect == Postgres && driver != euDriveList {
		// Sort the matches found through the search's index instead of
		// walking the date order on an estimate (see ListDevices).
		order = a + `.created_at + interval '0 seconds' DESC, ` + strings.SplitN(order, ", ", 2)[1]
	}
	query := `SELECT ` + sel + ` FROM ` + table + ` WHERE ` + where + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	args = s.customPlan(append(args, limit, offset))
	read := func(qr querier) ([]int64, error) {
		rows, err := qr.QueryContext(ctx, s.q(query), args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var ids []int64
		for rows.Next() {
			var created any
			var id int64
			if err := rows.Scan(&created, &id); err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		return ids, rows.Err()
	}
	if s.dialect != Postgres || driver != euDriveList {
		return read(s.db)
	}
	// Keep PostgreSQL on the walk: it estimates the users of one kind from
	// the share of those projects and would rather sort every user in
	// scope.
	return s.readWalking(ctx, read)
}

// Limits of endUserWordsPage: the words a search's text starts, and the
// rows read of each.
const (
	maxMergedWords = 16
	maxMergedRows  = 1_000
)

// endUserWordsPage reads the page of a dense name or Family Master search
// from the words index when the search's text starts few distinct words
// in scope (a last name: one): each word's users are one range of the
// index, newest first, and the page is the newest of the first rows of
// each. Walking the list index instead tests every user in date order,
// and a family member's Family Master words are a lookup each. ok is
// false (nothing read) where that does not hold: a scope or filter the
// index's leading columns do not hold, a deep page, or many words.
func (s *Store) endUserWordsPage(ctx context.Context, q *endUserSearch) (ids []int64, ok bool, err error) {
	n := q.f.Page.Offset() + q.f.PerPage
	if !q.lvl.wordsKeyed || q.f.InstallerID != 0 || q.expiring() || n > maxMergedRows {
		return nil, false, nil
	}
	table := "end_user_words w"
	c := ""
	if s.dialect == SQLite {
		table += indexedBy(q.lvl.words)
	} else {
		c = ` COLLATE "C"`
	}
	// The words of the range, one index seek each.
	key := q.lvl.wcond + " AND w.project_kind = ? AND w.field = ?"
	keyArgs := append(slices.Clone(q.lvl.wargs), string(q.kind), q.field)
	var args []any
	args = append(append(args, keyArgs...), q.words, q.words+"\U0010FFFF")
	args = append(append(args, keyArgs...), q.words+"\U0010FFFF", maxMergedWords)
	rows, err := s.query(ctx, `WITH RECURSIVE d(word, n) AS (
		SELECT (SELECT min(w.word) FROM `+table+` WHERE `+key+` AND w.word >= lower(?)`+c+` AND w.word < lower(?)`+c+`), 0
		UNION ALL
		SELECT (SELECT min(w.word) FROM `+table+` WHERE `+key+` AND w.word > d.word AND w.word < lower(?)`+c+`), d.n + 1
		FROM d WHERE d.word IS NOT NULL AND d.n < ?)
		SELECT word FROM d WHERE word IS NOT NULL`, s.customPlan(args)...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var words []string
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			return nil, false, err
		}
		words = append(words, w)
	}
	if err := rows.Err(); err != nil || len(words) > maxMergedWords {
		return nil, false, err
	}
	rows.Close()
	// The newest n users of each word (one row each: lastMatchingWord),
	// the page the newest of those.
	var parts []string
	args = args[:0]
	for i, word := range words {
		cond := key + " AND w.word = ? AND " + s.lastMatchingWord("w", q.words)
		args = append(append(append(args, keyArgs...), word), q.words)
		if q.role != "" {
			cond += " AND w.role = ?"
			args = append(args, q.role)
		}
		parts = append(parts, fmt.Sprintf(`SELECT * FROM (SELECT w.created_at, w.user_id FROM %s WHERE %s
			ORDER BY w.created_at DESC, w.user_id DESC LIMIT ?) m%d`, table, cond, i))
		args = append(args, n)
	}
	if len(parts) == 0 {
		return nil, true, nil
	}
	args = append(args, q.f.PerPage, q.f.Page.Offset())
	rows, err = s.query(ctx, `SELECT created_at, user_id FROM (`+strings.Join(parts, " UNION ALL ")+`) p
		ORDER BY created_at DESC, user_id DESC LIMIT ? OFFSET ?`, s.customPlan(args)...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var created any
		var id int64
		if err := rows.Scan(&created, &id); err != nil {
			return nil, false, err
		}
		ids = append(ids, id)
	}
	return ids, true, rows.Err()
}

// endUserRows reads the list rows of ids, in the order of ids.
func (s *Store) endUserRows(ctx context.Context, ids []int64) ([]*model.EndUserRow, error) {
	list, args := idList(ids)
	rows, err := s.query(ctx, `SELECT `+endUserListCols+` FROM end_users u JOIN projects p ON p.id = u.project_id
		JOIN accounts i ON i.id = u.installer_id LEFT JOIN end_users m ON m.id = u.family_master_id
		WHERE u.id IN `+list, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := make(map[int64]*model.EndUserRow, len(ids))
	for rows.Next() {
		row, err := scanEndUserRow(rows)
		if err != nil {
			return nil, err
		}
		byID[row.ID] = row
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]*model.EndUserRow, 0, len(ids))
	for _, id := range ids {
		if row := byID[id]; row != nil {
			out = append(out, row)
		}
	}
	return out, nil
}
