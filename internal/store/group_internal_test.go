package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Writes committed together: each caller gets its own result, and one
// failing write costs the others nothing — they land exactly once, each
// alone, and the failing one's own statements are rolled back.
func TestGroupCommitIsolatesAFailure(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.db.Exec(`CREATE TABLE group_probe (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	// Hold the writer, so that the writes below queue up and form one batch.
	hold, held := make(chan struct{}), make(chan struct{})
	go st.inGroupTx(ctx, func(*Tx) error { close(held); <-hold; return nil })
	<-held

	const n, failing = 40, 17
	errBroken := errors.New("broken write")
	var calls [n]atomic.Int32
	errs := make([]error, n)
	var wg sync.WaitGroup
	write := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.inGroupTx(ctx, func(tx *Tx) error {
				calls[i].Add(1)
				if _, err := tx.execP(ctx, `INSERT INTO group_probe (k) VALUES (?)`, fmt.Sprint(i)); err != nil {
					return err
				}
				if i == failing {
					return errBroken
				}
				return nil
			})
		}()
	}
	// The failing write queues last, so that every other one ran in the
	// batch before it failed (queued first, it would fail the batch before
	// any other ran: a flaky count below).
	for i := range n {
		if i != failing {
			write(i)
		}
	}
	for len(st.group.ops) < n-1 {
		runtime.Gosched()
	}
	write(failing)
	for len(st.group.ops) < n { // all queued behind the held write
		runtime.Gosched()
	}
	close(hold)
	wg.Wait()

	batched := 0
	for i := range n {
		if i == failing {
			if !errors.Is(errs[i], errBroken) {
				t.Errorf("the failing write answered %v", errs[i])
			}
		} else if errs[i] != nil {
			t.Errorf("write %d: %v", i, errs[i])
		}
		if calls[i].Load() == 2 {
			batched++
		}
	}
	if batched != n {
		t.Errorf("%d writes ran in the batch with the failing one, want them all (%d)", batched, n)
	}
	var rows int
	if err := st.db.QueryRow(`SELECT count(*) FROM group_probe`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	var hasFailing int
	st.db.QueryRow(`SELECT count(*) FROM group_probe WHERE k = ?`, fmt.Sprint(failing)).Scan(&hasFailing)
	if rows != n-1 || hasFailing != 0 {
		t.Errorf("%d rows landed (the failing one's: %d), want %d and 0", rows, hasFailing, n-1)
	}

	// A write whose caller gave up while it waited in the queue is never run.
	hold, held = make(chan struct{}), make(chan struct{})
	go st.inGroupTx(ctx, func(*Tx) error { close(held); <-hold; return nil })
	<-held
	cctx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() {
		ran <- st.inGroupTx(cctx, func(tx *Tx) error {
			_, err := tx.exec(ctx, `INSERT INTO group_probe (k) VALUES ('late')`)
			return err
		})
	}()
	for len(st.group.ops) < 1 {
		runtime.Gosched()
	}
	cancel()
	if err := <-ran; !errors.Is(err, context.Canceled) {
		t.Errorf("abandoned write: %v", err)
	}
	close(hold)
	st.inGroupTx(ctx, func(*Tx) error { return nil }) // after the queue drained
	var late int
	st.db.QueryRow(`SELECT count(*) FROM group_probe WHERE k = 'late'`).Scan(&late)
	if late != 0 {
		t.Error("a write abandoned in the queue landed")
	}

	// After Close, a write is refused, not hung.
	st.Close()
	if err := st.inGroupTx(ctx, func(*Tx) error { return nil }); !errors.Is(err, errStoreClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// A write holding SQLite's write lock never waits for a pooled connection:
// with every other connection waiting for that lock, it would wait until
// they gave up ("database is locked").
func TestGroupWriteNeverWaitsForThePool(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.db.Exec(`CREATE TABLE group_probe (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	st.db.SetMaxOpenConns(2)
	hold, held := make(chan struct{}), make(chan struct{})
	group := make(chan error, 1)
	go func() {
		group <- st.inGroupTx(ctx, func(tx *Tx) error {
			close(held)
			<-hold
			// A statement the cache does not hold yet.
			_, err := tx.execP(ctx, `INSERT INTO group_probe (k) VALUES ('group')`)
			return err
		})
	}()
	<-held
	other := make(chan error, 1)
	go func() {
		other <- st.inTx(ctx, func(tx *Tx) error {
			_, err := tx.exec(ctx, `INSERT INTO group_probe (k) VALUES ('other')`)
			return err
		})
	}()
	time.Sleep(300 * time.Millisecond) // the other writer now waits for the lock on the pool's second connection
	close(hold)
	if err := <-group; err != nil {
		t.Errorf("the group write: %v", err)
	}
	if err := <-other; err != nil {
		t.Errorf("the other write: %v", err)
	}
}

// The changes a grouped write declared are told on its caller's goroutine:
// telling them may wait for every node's acknowledgement (up to seconds
// when a node just died), and the one writer must not wait with it while
// the other devices' hellos and acknowledgements queue behind.
func TestGroupWriterDoesNotWaitForTheChangesToBeTold(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	telling, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	st.OnCommit(func(context.Context, []model.Change) {
		once.Do(func() { close(telling) })
		<-release // the cluster is slow to acknowledge
	})
	first := make(chan error, 1)
	go func() {
		first <- st.inGroupTx(ctx, func(tx *Tx) error {
			tx.changed(model.AutoPChange{MACs: []string{"0C1105000001"}})
			return nil
		})
	}()
	<-telling
	second := make(chan error, 1)
	go func() { second <- st.inGroupTx(ctx, func(*Tx) error { return nil }) }()
	select {
	case err := <-second:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("a write waited for another write's changes to be told")
	}
	select {
	case <-first:
		t.Fatal("the first write returned before its changes were told")
	default:
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}
