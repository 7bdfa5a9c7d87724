package store

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/autop"
)

func TestChangesAutoPFile(t *testing.T) {
	for _, c := range []struct {
		q    string
		want bool
	}{
		// Reads and writes to other tables.
		{`SELECT d.id FROM devices d WHERE d.mac = ?`, false},
		{`  select * from device_autop`, false},
		{`INSERT INTO sessions (token_hash, account_id) VALUES (?, ?)`, false},
		{`UPDATE device_commands SET status = 'sent' WHERE id IN (1, 2)`, false},
		{`DELETE FROM end_users WHERE installer_id = ?`, false},
		{`UPDATE third_party_devices SET project_id = ? WHERE id = ?`, false},
		// The gateway's status writes: no file changes.
		{`UPDATE devices SET online = true, ip = ?, model = CASE WHEN ? <> '' THEN ? ELSE model END,
		firmware = CASE WHEN ? <> '' THEN ? ELSE firmware END, uptime = ?, config_version = ?, node = ?, connected_at = ?, last_seen = ?
		WHERE mac = ? AND (online = false OR connected_at IS NULL OR connected_at <= ?)`, false},
		{`UPDATE devices SET last_seen = ? WHERE node = ? AND online = true AND id IN (?,?,?)`, false},
		{`UPDATE devices SET online = false, node = '' WHERE id IN (
			SELECT id FROM devices WHERE online = true AND (last_seen IS NULL OR last_seen < ?) LIMIT 5000)`, false},
		{`UPDATE devices SET autop_fetched_at = ? WHERE id IN (?, ?)`, false},
		{`UPDATE accounts SET password_hash = ?, updated_at = ? WHERE id = ?`, false},
		{`UPDATE projects SET name = ?, manager = ? WHERE id = ?`, false},
		// New rows: no file was read from them.
		{`INSERT INTO devices (mac, installer_id, project_id) VALUES (?, ?, ?)`, false},
		{`INSERT INTO accounts (username) VALUES (?) RETURNING id`, false},
		// Writes that change files.
		{`UPDATE devices SET key_hash = ? WHERE id = ? AND key_hash = ''`, true},
		{`UPDATE devices SET retired_keys = CASE WHEN key_hash <> '' THEN substr(key_hash || ' ' || retired_keys, 1, 519)
			ELSE retired_keys END, key_hash = '' WHERE id = ?`, true},
		{`UPDATE devices SET project_id = ?, building_id = ?, name = ? WHERE id = ?`, true},
		{`update Devices set Installer_ID = ? where id = ?`, true},
		{`UPDATE accounts SET name = ?, time_zone = ?, connect_type = ?, rtp_confusion = ?, updated_at = ? WHERE id = ?`, true},
		{`UPDATE projects SET name = ?, manager = ?, address = ?, time_zone = ? WHERE id = ?`, true},
		{`UPDATE devices SET connect_type = ? WHERE id = ?`, true}, // the device's data transmission type
		{`UPDATE device_autop SET once = '', updated_at = ? WHERE device_id = ? AND once = ?`, true},
		{`INSERT INTO device_autop (device_id, regular, once, updated_at) VALUES (?,?,?,?) ON CONFLICT (device_id) DO UPDATE SET regular = excluded.regular`, true},
		{`INSERT INTO devices (mac) VALUES (?) ON CONFLICT (mac) DO UPDATE SET project_id = excluded.project_id`, true},
		{`INSERT OR REPLACE INTO devices (mac) VALUES (?)`, true},
		{`DELETE FROM devices WHERE installer_id = ?`, true},
		{`DELETE FROM accounts WHERE id = ?`, true},
		{`DELETE FROM projects WHERE id = ?`, true},
		{`DELETE FROM device_autop WHERE device_id = ?`, true},
		// What cannot be read counts as a change.
		{`UPDATE devices SET (project_id, name) = (?, ?) WHERE id = ?`, true},
		{`UPDATE devices SET some_new_column = ? WHERE id = ?`, true},
		{`UPDATE devices AS d SET name = ? WHERE d.id = ?`, true},
		{`WITH moved AS (SELECT id FROM x) UPDATE devices SET name = 'a' WHERE id IN (SELECT id FROM moved)`, true},
		{`UPDATE devices SET name = 'where, project_id = 1' , location = ? WHERE id = ?`, false},
		// Forms it cannot read with certainty count when they write an input.
		{`UPDATE public.devices SET key_hash = '' WHERE id = ?`, true},
		{`UPDATE ONLY devices SET key_hash = '' WHERE id = ?`, true},
		{`UPDATE "devices" SET key_hash = '' WHERE id = ?`, true},
		{`DELETE FROM public.devices WHERE id = ?`, true},
		{`DELETE FROM ONLY projects WHERE id = ?`, true},
		{`/* reset */ UPDATE devices SET key_hash = '' WHERE id = ?`, true},
		{`-- reset
		UPDATE device_autop SET once = ''`, true},
		{`INSERT OR IGNORE INTO device_autop (device_id) VALUES (?)`, true},
		{`INSERT OR REPLACE INTO accounts (id, time_zone) VALUES (?, ?)`, true},
		{`INSERT OR IGNORE INTO sessions (token_hash) VALUES (?)`, false},
		{`INSERT INTO public.device_autop (device_id) VALUES (?)`, true},
		// Reads in those forms do not.
		{`/* list */ SELECT * FROM devices`, false},
		{`WITH d AS (SELECT id FROM devices) SELECT count(*) FROM d`, false},
		{`(SELECT mac FROM devices) UNION (SELECT mac FROM installer_macs)`, false},
	} {
		if got := changesAutoPFile(c.q); got != c.want {
			t.Errorf("changesAutoPFile(%q) = %v, want %v", c.q, got, c.want)
		}
	}
}

func TestAutoPCacheBounds(t *testing.T) {
	var gen atomic.Uint64
	c := &autoPCache{gen: &gen, maxAge: time.Hour, maxBytes: 64 << 10}
	file := func(n int) *AutoPServed {
		return &AutoPServed{File: autop.File{Version: "v", Body: []byte(strings.Repeat("x", n))}}
	}
	for i := range 1000 {
		mac := fmt.Sprintf("0C1105%06X", i)
		c.put(mac, file(300), 0, time.Now())
		if c.bytes > c.maxBytes {
			t.Fatalf("after %d files the cache holds %d bytes, more than its %d", i+1, c.bytes, c.maxBytes)
		}
		if c.get(mac) == nil {
			t.Fatalf("file %d not kept", i)
		}
		total := 0
		for m, e := range c.entries {
			total += entryCost(m, e.sv)
		}
		if total != c.bytes {
			t.Fatalf("the cache counts %d bytes, its entries cost %d", c.bytes, total)
		}
	}
	// The same MAC again replaces, not adds.
	c.put("0C11050003E7", file(300), 0, time.Now())
	c.put("0C11050003E7", file(300), 0, time.Now())
	total := 0
	for m, e := range c.entries {
		total += entryCost(m, e.sv)
	}
	if total != c.bytes {
		t.Errorf("after replacing: counts %d, entries cost %d", c.bytes, total)
	}
	// A file bigger than a 64th of the cache is not kept.
	c.put("0C1105FFFFFF", file(2<<10), 0, time.Now())
	if c.get("0C1105FFFFFF") != nil {
		t.Error("a 2 KiB file kept in a 64 KiB cache")
	}
	// Nor one past its age, nor one of an older generation.
	c.put("0C1105AAAAAA", file(10), 0, time.Now().Add(-2*time.Hour))
	if c.get("0C1105AAAAAA") != nil {
		t.Error("an expired file served")
	}
	c.put("0C1105BBBBBB", file(10), 0, time.Now())
	gen.Add(1)
	if c.get("0C1105BBBBBB") != nil {
		t.Error("a file of an older generation served")
	}
	c.put("0C1105CCCCCC", file(10), 0, time.Now()) // read before the write: not kept
	if c.get("0C1105CCCCCC") != nil {
		t.Error("a file read before a write kept")
	}
}
