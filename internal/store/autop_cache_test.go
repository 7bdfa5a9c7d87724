package store_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The AutoP server's cache serves each file until a write changes it: every
// kind of write that changes a device's file is seen at the very next
// fetch, and the gateway's status writes keep the cached file.
func TestAutoPCacheFollowsWrites(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		inst := tr.a1.installer
		mac := tr.a1.device.MAC
		rd, err := st.PrepareAutoP(sys, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		rd.EnableCache(time.Hour, 1<<20)

		serve := func() *store.AutoPServed {
			t.Helper()
			sv, err := rd.Serve(sys, mac)
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
			return sv
		}
		last := serve()
		if again := serve(); again != last {
			t.Fatal("a second fetch with no write in between read again: nothing is cached")
		}
		// step makes one write and checks that the next fetch is the file
		// (and key binding) as the database has it now, and that it changed.
		step := func(what string, write func() error) {
			t.Helper()
			if err := write(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			got := serve()
			want, err := st.AutoPServe(sys, mac)
			if err != nil {
				t.Fatalf("%s: uncached read: %v", what, err)
			}
			if string(got.File.Bytes()) != string(want.File.Bytes()) || got.KeyHash != want.KeyHash {
				t.Errorf("%s: served a stale file:\n%s(key %q)\nthe database has:\n%s(key %q)", what, got.File.Bytes(), got.KeyHash,
					want.File.Bytes(), want.KeyHash)
			}
			if string(got.File.Bytes()) == string(last.File.Bytes()) && got.KeyHash == last.KeyHash {
				t.Errorf("%s: the file did not change (the step tests nothing)", what)
			}
			last = got
		}

		key := strings.Repeat("k", 40)
		step("key accepted through a window", func() error {
			if _, err := st.OpenEnrollWindow(ctx, mac, 0, 0); err != nil {
				return err
			}
			_, err := st.AuthenticateDevice(sys, model.DeviceAttempt{MAC: mac, Key: key, RemoteAddr: "127.0.0.1"})
			return err
		})
		step("lists saved", func() error {
			_, err := st.SetDeviceAutoP(ctx, mac, []string{"Config.A.B.C = 1"}, []string{"Config.O.N.E = 1"})
			return err
		})
		step("batch", func() error {
			_, err := st.CreateAutoPBatch(ctx, store.AutoPBatchRequest{Scope: "community", Type: "regular",
				Commands: []string{"Config.B.A.T = 2"}, MACs: []string{mac}})
			return err
		})
		step("one-time commands applied", func() error { return st.AutoPApplied(sys, mac, last.File.Version) })
		tz, ct, rtp := "Europe/Berlin", "tls", true
		step("installer settings", func() error {
			_, err := st.UpdateInstaller(ctx, inst.ID, model.InstallerPatch{TimeZone: &tz, ConnectType: &ct, RTPConfusion: &rtp})
			return err
		})
		step("device connect type", func() error {
			_, err := st.SetDeviceConnectType(ctx, mac, "udp")
			return err
		})
		step("project time zone", func() error {
			_, err := st.UpdateProject(ctx, tr.a1.project.ID, store.ProjectEdit{TimeZone: new("America/Chicago")})
			return err
		})
		step("device moved to another project", func() error {
			proj := &model.Project{Kind: tr.a1.project.Kind, Name: "Tokio Heights", TimeZone: "Asia/Tokyo"}
			if err := st.CreateProject(as(inst), proj); err != nil {
				return err
			}
			return st.UpdateDevice(ctx, mac, func(d *model.Device) error {
				d.ProjectID, d.BuildingID, d.ApartmentID, d.DepartmentID, d.OwnerID = proj.ID, 0, 0, 0, 0
				return nil
			})
		})
		step("factory reset acknowledged", func() error {
			cmd, err := st.CreateCommand(ctx, mac, model.CommandReset, model.ResetFactory)
			if err != nil {
				return err
			}
			if err := st.MarkCommandsSent(sys, cmd.ID); err != nil {
				return err
			}
			_, _, err = st.AckCommand(sys, last.DeviceID, cmd.ID, true, "", "")
			return err
		})

		// The gateway's frequent writes keep the cached file.
		kept := serve()
		now := st.Now()
		for what, write := range map[string]func() error{
			"connected": func() error {
				return st.DeviceConnected(sys, mac, "n1", now, model.DeviceHello{Model: "R29", Firmware: "1.0", IP: "10.0.0.9"})
			},
			"reported": func() error {
				return st.DeviceReported(sys, mac, "n1", now, now, model.DeviceHello{Model: "R29", Firmware: "1.1", IP: "10.0.0.9", ConfigVersion: "x"})
			},
			"seen":         func() error { return st.DevicesSeen(sys, "n1", now, []int64{kept.DeviceID}) },
			"fetched":      func() error { return st.AutoPFetched(sys, now, kept.DeviceID) },
			"disconnected": func() error { return st.DeviceDisconnected(sys, mac, "n1", now, now) },
		} {
			if err := write(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if serve() != kept {
				t.Errorf("the gateway's %q status write dropped the cached file", what)
			}
		}

		// A deleted device is not served from the cache.
		if err := st.DeleteDevice(ctx, mac); err != nil {
			t.Fatal(err)
		}
		if _, err := rd.Serve(sys, mac); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("deleted device: %v", err)
		}

		// A device's fetches are recorded once a minute from a shared file.
		other := tr.a2.device.MAC
		sv, err := rd.Serve(sys, other)
		if err != nil {
			t.Fatal(err)
		}
		at := st.Now()
		if !sv.NeedsFetchRecord(at) {
			t.Error("first fetch not recorded")
		}
		sv, _ = rd.Serve(sys, other)
		if sv.NeedsFetchRecord(at.Add(time.Second)) {
			t.Error("a second fetch within the minute recorded again")
		}
		if !sv.NeedsFetchRecord(at.Add(61 * time.Second)) {
			t.Error("a fetch a minute later not recorded")
		}
	})
}

// Fetches racing with writes never leave a stale file in the cache: once a
// write has returned, every fetch serves what it wrote.
func TestAutoPCacheRacingWrites(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		mac := tr.a1.device.MAC
		rd, err := st.PrepareAutoP(sys, 4)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		rd.EnableCache(time.Hour, 1<<20)
		// Each miss waits a little after its read, so that writes often
		// land between a read and the put of what it read.
		store.SetAfterAutoPRead(func() { time.Sleep(200 * time.Microsecond) })
		defer store.SetAfterAutoPRead(nil)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := rd.Serve(sys, mac); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		for i := range 150 {
			line := fmt.Sprintf("Config.DoorSetting.RELAY.HoldDelayA = %d", i)
			if _, err := st.SetDeviceAutoP(ctx, mac, []string{line}, nil); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				sv, err := rd.Serve(sys, mac)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(sv.File.Body), line+"\n") {
					t.Fatalf("write %d returned, yet the file served is:\n%s", i, sv.File.Bytes())
				}
			}
		}
		close(stop)
		wg.Wait()
	})
}

// A cache serves only while its node hears the others (CacheAutoPWhile),
// and DropAutoPCache (another node's change, or one this node may have
// missed) makes the next fetch read.
func TestAutoPCacheGate(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		mac := tr.a1.device.MAC
		var hearing atomic.Bool
		st.CacheAutoPWhile(hearing.Load)
		rd, err := st.PrepareAutoP(sys, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		rd.EnableCache(time.Hour, 1<<20)
		serve := func() {
			t.Helper()
			if _, err := rd.Serve(sys, mac); err != nil {
				t.Fatal(err)
			}
		}
		hits := st.AutoPCacheHits()
		for range 3 {
			serve()
		}
		if n := st.AutoPCacheHits() - hits; n != 0 {
			t.Errorf("served %d fetches from the cache while not hearing", n)
		}
		hearing.Store(true)
		serve()
		serve()
		if n := st.AutoPCacheHits() - hits; n != 1 {
			t.Errorf("hearing: %d fetches from the cache, want the second", n)
		}
		st.DropAutoPCache()
		serve()
		if n := st.AutoPCacheHits() - hits; n != 1 {
			t.Errorf("after DropAutoPCache the fetch was served from the cache")
		}
	})
}
