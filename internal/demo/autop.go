package demo

import (
	"context"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/autop"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// AutoP of the demo data set: one device in 20 keeps regular AutoP
// commands, one in 100 has one-time commands waiting to be applied, so
// that the device pages and the AutoP server show living configuration.
const (
	autoPRegularEvery = 20
	autoPOnceEvery    = 100
)

var demoRegularAutoP = [][]string{
	{"Config.DoorSetting.RELAY.HoldDelayA = 5", "Config.Settings.SNTP.NTPServer1 = pool.ntp.org"},
	{"Config.DoorSetting.RELAY.HoldDelayA = 3", "Config.DoorSetting.RELAY.HoldDelayB = 3", "Config.Settings.WEB_LOGIN.Timeout = 300"},
	{"Config.Autoprovision.SCHEDULE.Mode = 1", "Config.Autoprovision.SCHEDULE.Time = 02:30"},
	{"Config.Account1.SIP.RegisterPeriod = 1800", "Config.Settings.SNTP.NTPServer1 = time.cloudflare.com"},
}

var demoOnceAutoP = [][]string{
	{"Config.Settings.LOGLEVEL.Level = 7"},
	{"Config.DoorSetting.DISPLAY.Greeting = Welcome home", "Config.Settings.LOGLEVEL.Level = 3"},
}

// LoadAutoP gives demo devices AutoP commands: every 20th device regular
// commands, every 100th one-time commands as well. It is called by Load
// after the devices are in (the devices' ids run 1…N in the demo), as the
// system, in bulk.
func LoadAutoP(ctx context.Context, st *store.Store, out io.Writer) error {
	ctx = model.WithActor(ctx, model.System)
	maxID, err := st.MaxID(ctx, "devices")
	if err != nil {
		return err
	}
	// The lines go through the same rules as a save.
	norm := func(lines []string) (string, error) {
		cmds, err := autop.Parse("regular", lines)
		if err != nil {
			return "", fmt.Errorf("demo AutoP: %w", err)
		}
		return autop.Join(cmds), nil
	}
	regular := make([]string, len(demoRegularAutoP))
	for i, l := range demoRegularAutoP {
		if regular[i], err = norm(l); err != nil {
			return err
		}
	}
	once := make([]string, len(demoOnceAutoP))
	for i, l := range demoOnceAutoP {
		if once[i], err = norm(l); err != nil {
			return err
		}
	}
	var lists []store.DeviceAutoPLists
	withOnce := 0
	for id := int64(1); id <= maxID; id++ {
		if id%autoPRegularEvery != 1 {
			continue
		}
		l := store.DeviceAutoPLists{DeviceID: id, Regular: regular[(id/autoPRegularEvery)%int64(len(regular))]}
		if id%autoPOnceEvery == 1 {
			l.Once = once[(id/autoPOnceEvery)%int64(len(once))]
			withOnce++
		}
		lists = append(lists, l)
	}
	if err := st.LoadDeviceAutoP(ctx, lists); err != nil {
		return fmt.Errorf("demo AutoP: %w", err)
	}
	n := len(lists)
	fmt.Fprintf(out, "AutoP: %d devices with regular commands, %d of them with one-time commands pending\n", n, withOnce)
	return nil
}
