package store

import (
	"context"
	"io/fs"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"

	"github.com/pressly/goose/v3"
)

// SetAfterAutoPRead sets a function run between a cache miss's read and its
// put (nil: none), for the race test of the AutoP cache.
func SetAfterAutoPRead(f func()) { afterAutoPRead = f }

// RedoMigration rolls one migration back and applies it again, for the
// tests of what a migration does to rows written before it.
func RedoMigration(ctx context.Context, s *Store, version int64) error {
	sub, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return err
	}
	d := goose.DialectSQLite3
	if s.dialect == Postgres {
		d = goose.DialectPostgres
	}
	p, err := goose.NewProvider(d, s.db, sub, goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations(s.dialect)...))
	if err != nil {
		return err
	}
	if _, err := p.ApplyVersion(ctx, version, false); err != nil {
		return err
	}
	_, err = p.ApplyVersion(ctx, version, true)
	return err
}

// OpenAt opens dsn migrated up to version only, for the tests of later
// migrations; store.Open on the same dsn applies the rest.
var OpenAt = open

// HoldGroupWriter occupies the group writer (group.go) until release is
// called, so that the writes made meanwhile queue up and form one batch;
// GroupQueued counts the writes queued.
func HoldGroupWriter(s *Store) (release func()) {
	hold, held := make(chan struct{}), make(chan struct{})
	go s.inGroupTx(context.Background(), func(*Tx) error { close(held); <-hold; return nil })
	<-held
	return func() { close(hold) }
}

func GroupQueued(s *Store) int { return len(s.group.ops) }

// AvailabilityPointsOf is the read of the availability recompute: the
// transitions of devices ids it reads for a window starting at from.
func AvailabilityPointsOf(ctx context.Context, s *Store, ids []int64, from time.Time) (map[int64][]model.AvailabilityPoint, error) {
	return s.availabilityPointsOf(ctx, ids, from)
}
