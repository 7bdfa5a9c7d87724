package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// One device key holds at most one of the node's connect places: a newer
// connect of the device replaces its connection still waiting for a hello
// (closed 4409). Before, each held a place until the hello timeout, so a
// copied key could fill them all and turn every other device away (503).
func TestOneKeyHoldsOneConnectPlace(t *testing.T) {
	transports(t, func(t *testing.T, opts gateway.Options) {
		opts.MaxConnecting = 2
		opts.HelloTimeout = time.Minute // the places are not freed by the timeout here
		_, _, both := gatewayServerOpts(t, opts)
		prev := dialDevice(t, both)
		for i := 1; i <= 3; i++ {
			ws := dialDevice(t, both) // fails the test on a 503
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, _, err := prev.Read(ctx)
			cancel()
			if code := websocket.CloseStatus(err); code != 4409 {
				t.Errorf("connection %d, replaced before its hello: read %v, want close 4409", i-1, err)
			}
			prev = ws
		}
	})
}
