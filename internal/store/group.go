package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Group commit of the gateway's small writes (a hello, a disconnect, an
// acknowledgement): when thousands of devices connect at once, one
// transaction per write makes every write wait for the database's one
// writer (SQLite) or for its own commit (PostgreSQL). Instead, one
// goroutine takes the writes waiting, up to maxGroup, and runs them in one
// transaction; each caller waits for its own result. A write alone goes
// at once: nothing waits for a batch to fill.
//
// Each write is a func of the transaction, as for inTx. Should one of them
// fail, the transaction is rolled back and every write of the batch runs
// again in a transaction of its own: a write lands once, or not at all,
// whatever its neighbours did. (A COMMIT that fails fails every write of
// the batch, as it fails inTx's.)

// maxGroup bounds the writes committed together.
const maxGroup = 256

// groupTimeout bounds one batch's transaction.
const groupTimeout = 15 * time.Second

var errStoreClosed = errors.New("store: closed")

type groupOp struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error
	// changes are what fn declared, set before done is sent: the caller
	// tells them (committed), so that the writer never waits for the
	// cluster's acknowledgements while other writes queue.
	changes []model.Change
	// state: opQueued, then opTaken by the writer or opAbandoned by a
	// caller whose ctx ended first (the writer then skips it).
	state atomic.Int32
}

const (
	opQueued = iota
	opTaken
	opAbandoned
)

type groupWriter struct {
	start sync.Once
	ops   chan *groupOp
	quit  chan struct{}
	ended chan struct{}
	stop  sync.Once
}

// inGroupTx is inTx for a small write of the hot paths: fn runs in a
// transaction shared with other writes of the moment, and may run twice
// (see above): it must do nothing but database work through tx. The
// changes it declares are told after the COMMIT, as by inTx. An error of
// ctx before fn ran leaves nothing written.
func (s *Store) inGroupTx(ctx context.Context, fn func(tx *Tx) error) error {
	w := &s.group
	w.start.Do(func() {
		w.ops = make(chan *groupOp, 4*maxGroup)
		w.quit = make(chan struct{})
		w.ended = make(chan struct{})
		go s.groupLoop()
	})
	op := &groupOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case <-w.quit:
		return errStoreClosed
	default:
	}
	select {
	case w.ops <- op:
	case <-w.quit:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-op.done:
		return s.told(op, err)
	case <-w.ended: // Close: answered already, or never will be
		select {
		case err := <-op.done:
			return s.told(op, err)
		default:
			return errStoreClosed
		}
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		return s.told(op, <-op.done) // under way: its result, within groupTimeout
	}
}

// told tells the changes op's write declared (after its COMMIT, on the
// caller's goroutine, as inTx does) and returns its result.
func (s *Store) told(op *groupOp, err error) error {
	if len(op.changes) > 0 {
		s.committed(op.ctx, op.changes)
	}
	return err
}

func (s *Store) groupLoop() {
	w := &s.group
	defer close(w.ended)
	batch := make([]*groupOp, 0, maxGroup)
	for {
		batch = batch[:0]
		select {
		case op := <-w.ops:
			batch = append(batch, op)
		case <-w.quit:
			s.failQueued(w)
			return
		}
	more:
		for len(batch) < maxGroup {
			select {
			case op := <-w.ops:
				batch = append(batch, op)
			default:
				break more
			}
		}
		s.runGroup(batch)
	}
}

// failQueued answers the writes still queued at Close.
func (s *Store) failQueued(w *groupWriter) {
	for {
		select {
		case op := <-w.ops:
			op.done <- errStoreClosed
		default:
			return
		}
	}
}

// runGroup commits the batch's writes together, or (one failed) each
// alone.
func (s *Store) runGroup(batch []*groupOp) {
	live := batch[:0:0]
	for _, op := range batch {
		if op.ctx.Err() == nil && op.state.CompareAndSwap(opQueued, opTaken) {
			live = append(live, op)
		}
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		live[0].alone(s)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	stx, err := s.db.BeginTx(ctx, nil)
	if err == nil {
		tx := &Tx{tx: stx, s: s}
		ends := make([]int, len(live)) // where each op's declared changes end
		for i, op := range live {
			if err = op.fn(tx); err != nil {
				break
			}
			ends[i] = len(tx.changes)
		}
		if err != nil {
			stx.Rollback()
		} else {
			err = stx.Commit()
			from := 0
			for i, op := range live {
				// Even when COMMIT reports an error: as inTx.
				op.changes = tx.changes[from:ends[i]:ends[i]]
				from = ends[i]
				op.done <- err // a failed COMMIT: as inTx, the error
			}
			return
		}
	}
	for _, op := range live {
		op.alone(s)
	}
}

// alone runs op's write in a transaction of its own.
func (op *groupOp) alone(s *Store) {
	changes, err := s.runTx(op.ctx, op.fn)
	op.changes = changes
	op.done <- err
}

// closeGroup stops the group writer (Close): writes queued get an error.
func (s *Store) closeGroup() {
	w := &s.group
	w.start.Do(func() { // never started: it never will be
		w.quit = make(chan struct{})
		w.ended = make(chan struct{})
		close(w.ended)
	})
	w.stop.Do(func() { close(w.quit) })
	<-w.ended
}
