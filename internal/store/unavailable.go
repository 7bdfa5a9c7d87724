package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Unavailable classifies a failed database call: the database unreachable
// (its connection refused or lost — PostgreSQL restarted, shutting down,
// not yet accepting connections) becomes model.EUNAVAILABLE with
// model.MsgDatabaseUnavailable, a full data disk (PostgreSQL's disk_full,
// SQLite's SQLITE_FULL or a failed write, ENOSPC/EFBIG/EDQUOT)
// model.EUNAVAILABLE with model.MsgDiskFull; any other error is returned as
// it is. Both are passing states the user can do nothing about but wait:
// the server answers them 503 with Retry-After, never 500.
func Unavailable(err error) error {
	switch {
	case err == nil:
		return nil
	case model.ErrorCode(err) != model.EINTERNAL:
		return err // ours already
	case IsDiskFull(err):
		return model.Errorf(model.EUNAVAILABLE, "%s", model.MsgDiskFull)
	case IsConnectionLost(err):
		return model.Errorf(model.EUNAVAILABLE, "%s", model.MsgDatabaseUnavailable)
	}
	return err
}

// SQLite's primary result codes the classification needs (the low byte of
// an extended code).
const (
	sqliteIOErr = 10 // SQLITE_IOERR: the OS failed a read or write
	sqliteFull  = 13 // SQLITE_FULL: the disk is full
)

// IsDiskFull reports an error of a write refused for want of space.
func IsDiskFull(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "53100" // disk_full
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteFull:
			return true
		case sqliteIOErr:
			// SQLITE_IOERR_READ is 266 (10 | 1<<8): a read failing is not
			// a full disk. Every other I/O error is a write, sync,
			// truncate or allocation that failed: what a full disk (or a
			// file size limit) makes them.
			return se.Code() != sqliteIOErr|1<<8 && se.Code() != sqliteIOErr|2<<8
		}
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "database or disk is full") || strings.Contains(msg, "SQLSTATE 53100") ||
		strings.Contains(msg, "no space left on device")
}

// IsConnectionLost reports an error of a database that could not be
// reached: a connection refused or lost (network errors, the server
// restarting or shutting down, SQLSTATE class 08 and 57P01–57P03, too many
// connections).
func IsConnectionLost(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", // admin_shutdown
			pe.Code == "57P02", // crash_shutdown
			pe.Code == "57P03", // cannot_connect_now (starting up, in recovery)
			pe.Code == "53300": // too_many_connections
			return true
		}
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return false // an HTTP call's (a payment provider's, a webhook's), not the database's
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"conn closed", "unexpected EOF", "connection refused", "connection reset by peer",
		"broken pipe", "failed to connect to", "the database system is shutting down",
		"the database system is starting up", "terminating connection due to administrator command"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// failed reports an error of a read that is not its row missing: the query
// failed (the database unreachable, say), which must reach the user as
// what it is, not as "not found" or "invalid".
func failed(err error) bool { return err != nil && model.ErrorCode(err) != model.ENOTFOUND }
