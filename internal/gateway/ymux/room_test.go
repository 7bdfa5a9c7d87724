package ymux_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gateway/ymux"
)

// queueConn stands for the gateway's event-loop connection: writes queue
// and never block, except that a frame with a payload must not be written
// while the queue is full — it waits for room (WaitRoom). Its Write of a
// payload frame without room blocks, as a wait under the session's write
// lock would.
type queueConn struct {
	net.Conn // unused methods
	room     chan struct{}
	wrote    chan []byte
}

func (q *queueConn) Write(p []byte) (int, error) {
	if len(p) > 12 {
		<-q.room
	}
	q.wrote <- bytes.Clone(p)
	return len(p), nil
}

func (q *queueConn) WaitRoom(deadline time.Time) error {
	select {
	case <-q.room:
		return nil
	case <-time.After(time.Until(deadline)):
		return errors.New("no room")
	}
}

func (q *queueConn) SetWriteDeadline(time.Time) error { return nil }
func (q *queueConn) SetDeadline(time.Time) error      { return nil }
func (q *queueConn) SetReadDeadline(time.Time) error  { return nil }
func (q *queueConn) Close() error                     { return nil }

func header(typ uint8, flags uint16, id, length uint32) []byte {
	h := make([]byte, 12)
	h[1] = typ
	binary.BigEndian.PutUint16(h[2:], flags)
	binary.BigEndian.PutUint32(h[4:], id)
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

// TestAnswersDoNotWaitBehindAWriterWithoutRoom: while a command waits for
// room to be written (a device that stopped reading), the session still
// answers what it is fed — a ping here — at once. On the gateway's event
// loop the feeding goroutine serves every device of the loop: an answer
// waiting behind that writer froze them all for the write timeout.
func TestAnswersDoNotWaitBehindAWriterWithoutRoom(t *testing.T) {
	q := &queueConn{room: make(chan struct{}), wrote: make(chan []byte, 64)}
	s := ymux.Server(q, ymux.Config{Control: func([]byte) error { return nil }, WriteTimeout: 5 * time.Second})
	defer s.Close()
	hello := []byte(`{"type":"hello"}` + "\n")
	if err := s.Feed(append(header(0, synFlag, 1, uint32(len(hello))), hello...)); err != nil {
		t.Fatal(err)
	}
	written := make(chan error, 1)
	go func() { written <- s.WriteControl([]byte(`{"type":"reboot","id":"c1"}` + "\n")) }()
	time.Sleep(50 * time.Millisecond) // the command waits for room

	fed := make(chan error, 1)
	go func() { fed <- s.Feed(header(2, synFlag, 0, 77)) }()
	select {
	case err := <-fed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the session's answer to a ping waited behind a command waiting for room")
	}
	pingAnswered := false
	for len(q.wrote) > 0 {
		f := <-q.wrote
		if f[1] == 2 && binary.BigEndian.Uint16(f[2:]) == ackFlag && binary.BigEndian.Uint32(f[8:]) == 77 {
			pingAnswered = true
		}
	}
	if !pingAnswered {
		t.Fatal("the ping was not answered")
	}
	close(q.room)
	if err := <-written; err != nil {
		t.Fatalf("the command, once there was room: %v", err)
	}
}
