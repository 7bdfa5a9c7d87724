package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestUnavailableClassifiesRealErrors: the errors a database that cannot
// serve really returns — a connection refused, a connection its server
// terminated (PostgreSQL), a write past the space it has (SQLite) — become
// EUNAVAILABLE with the message that says which; an ordinary failure of the
// same calls does not.
func TestUnavailableClassifiesRealErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// An ordinary SQL error stays internal.
		_, err := st.DB().ExecContext(ctx, `SELECT no_such_column FROM accounts`)
		if err == nil || store.IsConnectionLost(err) || store.IsDiskFull(err) || store.Unavailable(err) != err {
			t.Fatalf("a wrong query classified as unavailable: %v", err)
		}
		switch st.Dialect() {
		case store.Postgres:
			// Refused: nothing listens there.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			db, err := sql.Open("pgx", "postgres://postgres@"+addr+"/x?sslmode=disable&connect_timeout=5")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			err = db.PingContext(ctx)
			wantUnavailable(t, "connection refused", err, model.MsgDatabaseUnavailable)

			// Lost: the server ends the connection under a held one.
			c, err := st.DB().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var pid int
			if err := c.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				t.Fatal(err)
			}
			if _, err := st.DB().ExecContext(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
				t.Fatal(err)
			}
			var one int
			err = c.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
			wantUnavailable(t, "connection terminated", err, model.MsgDatabaseUnavailable)
			// And the pool goes on with a new connection.
			if err := st.Ping(ctx); err != nil {
				t.Fatalf("ping after a terminated connection: %v", err)
			}
		case store.SQLite:
			// Full: the database may not grow past the pages it has.
			c, err := st.DB().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var pages int
			if err := c.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
				t.Fatal(err)
			}
			_, err = c.ExecContext(ctx, `CREATE TABLE filler AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
				SELECT i, randomblob(1000) AS b FROM n`)
			wantUnavailable(t, "disk full", err, model.MsgDiskFull)
			if _, err := c.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
				t.Fatal(err)
			}
			// Reads still work on a full disk.
			if err := st.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func wantUnavailable(t *testing.T, what string, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	u := store.Unavailable(err)
	if model.ErrorCode(u) != model.EUNAVAILABLE || model.ErrorMessage(u) != msg {
		t.Fatalf("%s: %v classified as %q %q, want %q %q", what, err, model.ErrorCode(u), model.ErrorMessage(u), model.EUNAVAILABLE, msg)
	}
}

// TestUnavailableClassifiesCodes: the codes of either engine, wrapped as
// the store wraps them, and what must not be taken for them.
func TestUnavailableClassifiesCodes(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("list devices: %w", err) }
	down := []error{
		&pgconn.PgError{Code: "08006"}, &pgconn.PgError{Code: "57P01"}, &pgconn.PgError{Code: "57P02"},
		&pgconn.PgError{Code: "57P03"}, &pgconn.PgError{Code: "53300"},
		wrap(pgconn.ErrConnClosed), wrap(sql.ErrConnDone), wrap(syscall.ECONNREFUSED), wrap(syscall.ECONNRESET),
		wrap(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), errors.New("unexpected EOF"),
	}
	for _, err := range down {
		wantUnavailable(t, err.Error(), wrap(err), model.MsgDatabaseUnavailable)
	}
	full := []error{&pgconn.PgError{Code: "53100"}, syscall.ENOSPC, syscall.EFBIG, errors.New("database or disk is full (13)")}
	for _, err := range full {
		wantUnavailable(t, err.Error(), wrap(err), model.MsgDiskFull)
	}
	other := []error{
		&pgconn.PgError{Code: "23505"}, &pgconn.PgError{Code: "40001"}, sql.ErrNoRows, context.Canceled,
		model.NotFound("device"), model.Errorf(model.ECONFLICT, "taken"),
		&url.Error{Op: "Post", URL: "https://api.stripe.test", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}},
	}
	for _, err := range other {
		if u := store.Unavailable(wrap(err)); model.ErrorCode(u) == model.EUNAVAILABLE {
			t.Errorf("%v classified as unavailable", err)
		}
	}
	if store.Unavailable(nil) != nil {
		t.Error("nil classified")
	}
}

// TestFailedReadIsNotMissing: a read that fails (here its context is
// cancelled; in production the database unreachable) is reported as the
// failure it is, not as the installer missing — a user would be told 404
// for a passing outage, and an acting session would be ended for it.
func TestFailedReadIsNotMissing(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx, cancel := context.WithCancel(as(tr.subA1))
		if _, err := st.GetInstaller(ctx, tr.a1.installer.ID); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err := st.GetInstaller(ctx, tr.a1.installer.ID)
		if err == nil || model.ErrorCode(err) == model.ENOTFOUND {
			t.Fatalf("a failed read answered %v, want the failure", err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
}
