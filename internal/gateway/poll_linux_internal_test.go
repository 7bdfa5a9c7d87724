package gateway

import (
	"bytes"
	"syscall"
	"testing"
	"time"
)

// The echo of a device's close frame queued behind data (the device had
// not read for a while) goes out before the socket is cut: it used to be
// dropped with the queue, so the device never saw the handshake end.
func TestQueuedCloseEchoIsWrittenBeforeTheCut(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	device := fds[1]
	defer syscall.Close(device)
	tr := &polled{fd: fds[0]}
	defer tr.discard()
	// Fill the socket until writes queue.
	data := wsFrame(opBinary, bytes.Repeat([]byte{'d'}, 60<<10))
	var sent []byte
	for len(tr.out) == 0 {
		if err := tr.write(data, false, time.Now().Add(time.Second)); err != nil {
			t.Fatalf("write: %v", err)
		}
		sent = append(sent, data...)
	}
	echo := wsFrame(opClose, []byte{0x03, 0xe8})
	if err := tr.write(echo, false, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	sent = append(sent, echo...)
	tr.cutWhenFlushed()
	if tr.dead {
		t.Fatal("cut with the echo still queued")
	}
	// The device reads; the loop flushes as the socket takes more.
	var got []byte
	buf := make([]byte, 64<<10)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		n, err := syscall.Read(device, buf)
		if n > 0 {
			got = append(got, buf[:n]...)
		}
		if n == 0 && err == nil {
			break // the cut: end of stream
		}
		tr.flush()
		if err == syscall.EAGAIN {
			time.Sleep(time.Millisecond)
		}
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("the device read %d bytes, want %d ending with the close echo", len(got), len(sent))
	}
	if !tr.dead {
		t.Error("not cut once the queue was written")
	}
}
