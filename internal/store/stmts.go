package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Prepared statements of the hot paths: a device connecting (its
// authentication, its hello, its pending commands) and the gateway's
// acknowledgements run the same few statements thousands of times a
// second. Without preparing, SQLite parses and plans each one again on
// every call, a quarter of the server's CPU in a connect storm. The cache
// holds a *sql.Stmt per query text, prepared at first use; database/sql
// prepares it on each pooled connection when first used there, and keeps
// it. Only queries of a fixed text may use it (never one built with a
// variable number of placeholders beyond a small bound): the cache is
// never emptied while the store is open.
type stmtCache struct {
	mu        sync.RWMutex
	m         map[string]*sql.Stmt
	preparing map[string]bool // by cachedStmt, in the background: once per query
}

// maxCachedStmts bounds the cache, a guard against a caller that builds
// query texts: beyond it, queries run unprepared.
const maxCachedStmts = 256

// stmt returns the prepared form of query (placeholders as ?), or nil
// (and no error) when the cache is full: the caller runs it unprepared.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c := &s.stmts
	c.mu.RLock()
	st, full := c.m[query], len(c.m) >= maxCachedStmts
	c.mu.RUnlock()
	if st != nil || full {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, s.q(query))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil {
		st.Close() // prepared by another caller meanwhile
		return old, nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st, nil
}

// closeStmts releases the prepared statements (Close).
func (s *Store) closeStmts() {
	c := &s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// execP, queryP and queryRowP are exec, query and queryRow through the
// statement cache: for the hot paths' fixed queries.
func (s *Store) execP(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	} else if st == nil {
		return s.exec(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (s *Store) queryP(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	} else if st == nil {
		return s.query(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// queryRowP returns a row whose Scan runs the statement; an error of
// preparing comes out of Scan.
func (s *Store) queryRowP(ctx context.Context, query string, args ...any) scanner {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	} else if st == nil {
		return s.queryRow(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// cachedStmt is the prepared form of query if the cache holds it; if not,
// it is prepared in the background for the next call. A transaction must
// not prepare through the pool itself: that waits for a free connection
// while the transaction holds SQLite's write lock, and the connections in
// use may all be waiting for that lock.
func (s *Store) cachedStmt(query string) *sql.Stmt {
	s.stmts.mu.RLock()
	st := s.stmts.m[query]
	s.stmts.mu.RUnlock()
	if st == nil {
		c := &s.stmts
		c.mu.Lock()
		if c.preparing[query] {
			c.mu.Unlock()
			return nil // a storm's other calls do not prepare it again
		}
		if c.preparing == nil {
			c.preparing = map[string]bool{}
		}
		c.preparing[query] = true
		c.mu.Unlock()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s.stmt(ctx, query) // an error: the next call tries again
			c.mu.Lock()
			delete(c.preparing, query)
			c.mu.Unlock()
		}()
	}
	return st
}

// execP and queryRowP of a transaction use the store's prepared statement
// on the transaction's connection (prepared there once, then reused).
func (t *Tx) execP(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st := t.s.cachedStmt(query)
	if st == nil {
		return t.exec(ctx, query, args...)
	}
	return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

func (t *Tx) queryRowP(ctx context.Context, query string, args ...any) scanner {
	st := t.s.cachedStmt(query)
	if st == nil {
		return t.queryRow(ctx, query, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}
