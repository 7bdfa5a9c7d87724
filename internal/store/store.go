// Package store keeps all of Gatehouse's data behind one API over
// database/sql, for SQLite (embedded default) and PostgreSQL. Every method that
// serves a person reads the actor from ctx and limits its query to the
// actor's subtree of the tenancy tree (see scope.go): tenancy lives here, not
// in handlers.
package store

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the SQL back end.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the one data access object of the app.
type Store struct {
	db         *sql.DB
	dialect    Dialect
	now        func() time.Time
	aead       cipher.AEAD // seals secrets at rest; see crypto.go
	fwTokenKey []byte      // firmware download tokens; see crypto.go

	// autopGen moves on after every committed transaction that declared an
	// AutoP change, and whenever the bus says this node may have missed
	// one (DropAutoPCache): a cached file is good for the generation it was
	// read in (autop_cache.go).
	autopGen atomic.Uint64

	// onCommit is the subscriber of the changes transactions declare
	// (OnCommit).
	onCommit atomic.Pointer[func(context.Context, []model.Change)]
	// autopHearing gates the AutoP caches (CacheAutoPWhile).
	autopHearing atomic.Pointer[func() bool]
	autopHits    atomic.Uint64 // fetches served from an AutoP cache

	stmts stmtCache   // prepared statements of the hot paths (stmts.go)
	group groupWriter // group commit of the gateway's small writes (group.go)

	// hookGate caches which webhook event types any enabled endpoint
	// wants (webhooks.go): the device hot paths write no event otherwise.
	hookGate atomic.Pointer[webhookGate]
}

// IsPostgresDSN reports whether dsn selects PostgreSQL.
func IsPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// DefaultDSN is the SQLite database inside the data directory.
func DefaultDSN(dataDir string) string { return filepath.Join(dataDir, "gatehouse.db") }

// Open connects to dsn (a postgres:// URL, or a SQLite file path), and
// brings the schema up to date.
func Open(ctx context.Context, dsn string) (*Store, error) { return open(ctx, dsn, 0) }

// open is Open that migrates up to version upTo (0: all), for the tests of a
// migration.
func open(ctx context.Context, dsn string, upTo int64) (*Store, error) {
	s := &Store{now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	var err error
	if IsPostgresDSN(dsn) {
		s.dialect = Postgres
		s.db, err = sql.Open("pgx", dsn)
		if err == nil {
			s.db.SetMaxOpenConns(20)
			s.db.SetMaxIdleConns(10)
		}
	} else {
		s.dialect = SQLite
		path := strings.TrimPrefix(dsn, "file:")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("create data directory: %w", err)
			}
		}
		// WAL lets readers run beside the one writer; _txlock=immediate takes
		// the write lock at BEGIN so concurrent writers wait (busy_timeout)
		// instead of failing on a lock upgrade. temp_store(2) keeps the
		// statement journals of the gateway's group transactions (a
		// savepoint per write) in memory rather than in a temporary file:
		// the connect path's CPU fell by a third (README "Availability").
		q := "?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)" +
			"&_pragma=synchronous(NORMAL)&_pragma=temp_store(2)&_txlock=immediate&_time_format=sqlite"
		s.db, err = sql.Open("sqlite", "file:"+path+q)
		if err == nil {
			// Idle connections are kept: reopening one re-reads the schema,
			// which costs a busy server a noticeable share of its CPU.
			s.db.SetMaxOpenConns(8)
			s.db.SetMaxIdleConns(8)
		}
	}
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := s.db.PingContext(pctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := s.migrate(ctx, upTo); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// Migrate applies every migration not yet applied.
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx, 0) }

func (s *Store) migrate(ctx context.Context, upTo int64) error {
	sub, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return err
	}
	d := goose.DialectSQLite3
	if s.dialect == Postgres {
		d = goose.DialectPostgres
	}
	// Migrations are applied in order only: every installation then has
	// the same history, which the schema test (both trees, fully applied)
	// vouches for. Migrations SQL cannot express are written in Go beside
	// the SQL files' numbers: SQLite's 00018 (migrate_ids.go) and 00020
	// (migrate_not_null.go).
	p, err := goose.NewProvider(d, s.db, sub, goose.WithGoMigrations(goMigrations(s.dialect)...))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if err := refuseGaps(ctx, p); err != nil {
		return err
	}
	if upTo > 0 {
		_, err = p.UpTo(ctx, upTo)
	} else {
		_, err = p.Up(ctx)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// refuseGaps fails, naming them, when migrations below the newest one the
// database has applied are not applied: applying them now, out of order,
// would run them on a schema they were not written for.
func refuseGaps(ctx context.Context, p *goose.Provider) error {
	status, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	var newest int64
	for _, m := range status {
		if m.State == goose.StateApplied {
			newest = max(newest, m.Source.Version)
		}
	}
	var missing []string
	for _, m := range status {
		if m.State != goose.StateApplied && m.Source.Version < newest {
			missing = append(missing, fmt.Sprintf("%05d", m.Source.Version))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("migrate: the database lacks migration %s, below its newest applied version %05d; "+
			"migrations are applied in order only (restore a backup taken before the gap, or apply the missing "+
			"migration by hand and record it in goose_db_version)", strings.Join(missing, ", "), newest)
	}
	return nil
}

// Close releases the database.
func (s *Store) Close() error {
	s.closeGroup()
	s.closeStmts()
	return s.db.Close()
}

// Dialect of the store.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB exposes the handle for health checks and the demo loader.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// SetClock replaces the clock, for tests of expiry.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Now is the store's clock (UTC).
func (s *Store) Now() time.Time { return s.now() }

// q rewrites the ? placeholders of a query for the dialect. Queries in this
// package never contain a literal question mark.
func (s *Store) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		} else {
			b.WriteByte(query[i])
		}
	}
	return b.String()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is a transaction with the store's placeholder rewriting.
type Tx struct {
	tx *sql.Tx
	s  *Store

	changes []model.Change // declared by its writes (changed), told after COMMIT
}

// changed declares that the transaction changes c. Every write method that
// changes an input of an AutoP file declares it, on the line beside its
// statement (TestWritesDeclareChanges keeps that so): after COMMIT, the
// store hands the transaction's changes to the OnCommit subscriber.
func (t *Tx) changed(c model.Change) { t.changes = append(t.changes, c) }

func (t *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.s.q(query), args...)
}
func (t *Tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.s.q(query), args...)
}
func (t *Tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.s.q(query), args...)
}

// inTx runs fn in one transaction: all its writes land, or none do. The
// changes fn declared are told after the COMMIT, before inTx returns: the
// caller answers its user only after every node heard of them.
func (s *Store) inTx(ctx context.Context, fn func(tx *Tx) error) error {
	changes, err := s.runTx(ctx, fn)
	if len(changes) > 0 {
		s.committed(ctx, changes)
	}
	return err
}

// runTx is inTx without telling the changes: it returns them, the ones of
// a COMMIT that reported an error too (it may have landed, and a needless
// change only costs the caches a read).
func (s *Store) runTx(ctx context.Context, fn func(tx *Tx) error) ([]model.Change, error) {
	stx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	tx := &Tx{tx: stx, s: s}
	if err := fn(tx); err != nil {
		stx.Rollback()
		return nil, err
	}
	err = stx.Commit()
	return tx.changes, err
}

// OnCommit registers the one subscriber of the changes committed
// transactions declared (the application layer's, which publishes them on
// the bus); it replaces any earlier one. fn runs after the COMMIT, in the
// writer's goroutine, before the write method returns.
func (s *Store) OnCommit(fn func(ctx context.Context, changes []model.Change)) {
	s.onCommit.Store(&fn)
}

// committed tells this store's AutoP cache (at once, whatever the bus
// does) and the subscriber about changes that landed.
func (s *Store) committed(ctx context.Context, changes []model.Change) {
	for _, c := range changes {
		if c.ChangeKind() == model.ChangeKindAutoP {
			s.autopGen.Add(1)
			break
		}
	}
	if fn := s.onCommit.Load(); fn != nil {
		(*fn)(ctx, changes)
	}
}

// exec, query and queryRow outside a transaction must not change an AutoP
// input: such a write runs in inTx and declares it (tx.changed).
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, s.q(query), args...)
}
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.db.QueryContext(ctx, s.q(query), args...)
}
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, s.q(query), args...)
}

// isUniqueViolation recognises a unique-constraint error of either back end.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// nullID maps the zero id to SQL NULL.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// idScanner scans a nullable id column into an int64 (0 for NULL).
type idScanner struct{ p *int64 }

func (n idScanner) Scan(v any) error {
	var ni sql.NullInt64
	if err := ni.Scan(v); err != nil {
		return err
	}
	*n.p = ni.Int64
	return nil
}

func nid(p *int64) idScanner { return idScanner{p} }

// likeContains builds a case-insensitive "contains" pattern, escaping the
// LIKE wildcards of the user's text (used with ESCAPE '\').
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

var errNoRows = sql.ErrNoRows

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }

// list runs the count and the page query of a list with the same WHERE
// clause and arguments, scanning each row with scan. Every list of the store
// goes through here, so paging and totals behave alike everywhere.
func list[T any](ctx context.Context, s *Store, from, where, orderBy, cols string, args []any, p model.Page,
	scan func(scanner) (T, error)) (model.List[T], error) {
	out := model.List[T]{Page: p.Page, PerPage: p.PerPage, Items: []T{}}
	if err := s.queryRow(ctx, `SELECT count(*) FROM `+from+` WHERE `+where, args...).Scan(&out.Total); err != nil {
		return out, err
	}
	rows, err := s.query(ctx, `SELECT `+cols+` FROM `+from+` WHERE `+where+` ORDER BY `+orderBy+` LIMIT ? OFFSET ?`,
		append(args, p.PerPage, p.Offset())...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		it, err := scan(rows)
		if err != nil {
			return out, err
		}
		out.Items = append(out.Items, it)
	}
	return out, rows.Err()
}

func itoa(n int) string { return strconv.Itoa(n) }

// sortRowErrors orders an import's rejections by row number.
func sortRowErrors(e []model.RowError) {
	slices.SortStableFunc(e, func(a, b model.RowError) int { return a.Row - b.Row })
}

// scanAll reads every row with scan and closes rows: an empty result is an
// empty slice, not nil (lists answer [] in JSON).
func scanAll[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanIDs reads a one-column result of ids and closes rows.
func scanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
