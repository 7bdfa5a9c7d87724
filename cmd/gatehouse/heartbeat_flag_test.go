package main

import (
	"strings"
	"testing"
)

// TestServeHeartbeatFlag: --heartbeat (GATEHOUSE_HEARTBEAT) is listed, and a
// value the gateway could not honour (under a second, or not whole seconds)
// is refused naming the flag or the variable, before anything starts.
// devicesim's --backoff-max likewise must be positive.
func TestServeHeartbeatFlag(t *testing.T) {
	out, _ := runCmd(t, env(nil), "serve", "-h")
	for _, s := range []string{"-heartbeat", "GATEHOUSE_HEARTBEAT", "3×"} {
		if !strings.Contains(out, s) {
			t.Errorf("serve -h does not mention %s", s)
		}
	}
	for _, v := range []string{"500ms", "1500ms", "0s", "11m"} {
		if _, err := runCmd(t, env(nil), "serve", "--data", t.TempDir(), "--heartbeat", v); err == nil || !strings.Contains(err.Error(), "--heartbeat") {
			t.Errorf("--heartbeat %s: %v", v, err)
		}
	}
	if _, err := runCmd(t, env(map[string]string{"GATEHOUSE_HEARTBEAT": "often"}), "serve", "--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_HEARTBEAT") {
		t.Errorf("bad GATEHOUSE_HEARTBEAT: %v", err)
	}
	if _, err := runCmd(t, env(nil), "devicesim", "--server", "http://127.0.0.1:1", "--macs", "/nonexistent", "--backoff-max", "0s"); err == nil || !strings.Contains(err.Error(), "--backoff-max") {
		t.Errorf("devicesim --backoff-max 0s: %v", err)
	}
}
