package usecase

import (
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Two partial updates of different fields of one row, run at the same time,
// must both land: each reads, merges and writes the row in one transaction,
// so neither writes back the other's old value.

// lostUpdateRounds is how often the two updates race; before the merge
// moved into the store's transaction a few rounds lost one on both backends.
const lostUpdateRounds = 25

// lostUpdateRace runs a(i) and b(i) at once for each round and then check(i).
func lostUpdateRace(t *testing.T, a, b func(i int) error, check func(i int)) {
	t.Helper()
	for i := range lostUpdateRounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for k, f := range []func(int) error{a, b} {
			wg.Go(func() {
				<-start
				errs[k] = f(i)
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
		check(i)
		if t.Failed() {
			return
		}
	}
}

func TestConcurrentProjectEditsKeepBothFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newProjectsWorld(t, backend)
		c, ctx, id := w.tc, w.mine, w.community.ID
		zones := []string{"Europe/Berlin", "Asia/Tokyo"}
		name := func(i int) string { return fmt.Sprintf("Maple %d", i) }
		lostUpdateRace(t,
			func(i int) error {
				_, err := c.UpdateProject(ctx, id, ProjectEdit{Name: new(name(i))})
				return err
			},
			func(i int) error {
				_, err := c.UpdateProject(ctx, id, ProjectEdit{TimeZone: new(zones[i%2])})
				return err
			},
			func(i int) {
				p, err := c.store.GetProject(ctx, id)
				projectsMust(t, err)
				if p.Name != name(i) || p.TimeZone != zones[i%2] {
					t.Errorf("round %d: name %q, time zone %q; want %q and %q", i, p.Name, p.TimeZone, name(i), zones[i%2])
				}
			})
	})
}

func TestConcurrentSwitchesKeepBoth(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		dist, sub := peopleTree(t, tc.store)
		ctx := peopleAs(dist)
		lostUpdateRace(t,
			func(i int) error {
				_, err := tc.SetSubdistributorSwitches(ctx, sub.ID, SubdistributorSwitches{PaymentEnabled: new(i%2 == 0)})
				return err
			},
			func(i int) error {
				_, err := tc.SetSubdistributorSwitches(ctx, sub.ID, SubdistributorSwitches{PayByDistributor: new(i%2 == 0)})
				return err
			},
			func(i int) {
				acc, err := tc.store.GetAccount(ctx, sub.ID)
				if err != nil {
					t.Fatal(err)
				}
				if want := i%2 == 0; acc.PaymentEnabled != want || acc.PayByDistributor != want {
					t.Errorf("round %d: payment %v, pay by distributor %v; want both %v", i, acc.PaymentEnabled, acc.PayByDistributor, want)
				}
			})
	})
}

func TestConcurrentEndUserEditsKeepBothFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		ctx := peopleAs(peopleAccount(t, tc.store, model.RoleInstaller, "fitter", sub))
		p, apt := peopleApartment(t, tc, ctx)
		u := &model.EndUser{ProjectID: p.ID, ApartmentID: apt.ID, Role: model.FamilyMaster, Name: "Anna"}
		if err := tc.CreateEndUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		email := func(i int) string { return fmt.Sprintf("anna%d@example.com", i) }
		phone := func(i int) string { return fmt.Sprintf("+4930%04d", i) }
		edit := func(f func(*model.EndUser)) error {
			_, err := tc.UpdateEndUser(ctx, u.ID, func(u *model.EndUser) error { f(u); return nil })
			return err
		}
		lostUpdateRace(t,
			func(i int) error { return edit(func(u *model.EndUser) { u.Email = email(i) }) },
			func(i int) error { return edit(func(u *model.EndUser) { u.Phone = phone(i) }) },
			func(i int) {
				got, err := tc.store.GetEndUser(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Email != email(i) || got.Phone != phone(i) {
					t.Errorf("round %d: email %q, phone %q; want %q and %q", i, got.Email, got.Phone, email(i), phone(i))
				}
			})
	})
}

// The installer's profile was merged in the store's transaction, but read
// without a lock: on PostgreSQL two edits at once could still lose one.
func TestConcurrentInstallerEditsKeepBothFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		inst := peopleAccount(t, tc.store, model.RoleInstaller, "fitter", sub)
		ctx := peopleAs(sub)
		name := func(i int) string { return fmt.Sprintf("Fitter %d", i) }
		phone := func(i int) string { return fmt.Sprintf("+4930%04d", i) }
		lostUpdateRace(t,
			func(i int) error {
				_, err := tc.UpdateInstaller(ctx, inst.ID, model.InstallerPatch{Name: new(name(i))})
				return err
			},
			func(i int) error {
				_, err := tc.UpdateInstaller(ctx, inst.ID, model.InstallerPatch{Phone: new(phone(i))})
				return err
			},
			func(i int) {
				got, err := tc.store.GetInstaller(ctx, inst.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Name != name(i) || got.Phone != phone(i) {
					t.Errorf("round %d: name %q, phone %q; want %q and %q", i, got.Name, got.Phone, name(i), phone(i))
				}
			})
	})
}

// A camera's edit, likewise.
func TestConcurrentCameraEditsKeepBothFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newProjectsWorld(t, backend)
		c, ctx := w.tc, w.mine
		cam := &model.ThirdPartyDevice{ProjectID: w.community.ID, Name: "Gate", StreamURL: "rtsp://10.0.0.5/live"}
		projectsMust(t, c.CreateCamera(ctx, cam))
		name := func(i int) string { return fmt.Sprintf("Gate %d", i) }
		url := func(i int) string { return fmt.Sprintf("rtsp://10.0.0.%d/live", i+1) }
		lostUpdateRace(t,
			func(i int) error {
				_, err := c.UpdateCamera(ctx, cam.ID, store.CameraUpdate{Name: new(name(i))})
				return err
			},
			func(i int) error {
				_, err := c.UpdateCamera(ctx, cam.ID, store.CameraUpdate{StreamURL: new(url(i))})
				return err
			},
			func(i int) {
				got, err := c.store.GetThirdPartyDevice(ctx, cam.ID)
				projectsMust(t, err)
				if got.Name != name(i) || got.StreamURL != url(i) {
					t.Errorf("round %d: name %q, stream %q; want %q and %q", i, got.Name, got.StreamURL, name(i), url(i))
				}
			})
	})
}

// The API's device PATCH read the device, applied the request and saved the
// whole row in separate transactions.
func TestConcurrentDeviceEditsKeepBothFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newProjectsWorld(t, backend)
		c, ctx := w.tc, w.mine
		d := &model.Device{MAC: "0c:11:05:00:00:01", ProjectID: w.community.ID, Type: model.DoorPhone, Name: "Gate"}
		projectsMust(t, c.AddInstallerDevice(ctx, d))
		name := func(i int) string { return fmt.Sprintf("Gate %d", i) }
		sip := func(i int) string { return fmt.Sprintf("60%02d", i) }
		edit := func(f func(*model.Device)) error {
			_, err := c.UpdateInstallerDevice(ctx, d.MAC, func(d *model.Device) error { f(d); return nil })
			return err
		}
		lostUpdateRace(t,
			func(i int) error { return edit(func(d *model.Device) { d.Name = name(i) }) },
			func(i int) error { return edit(func(d *model.Device) { d.SIP = sip(i) }) },
			func(i int) {
				got, err := c.store.GetDevice(ctx, d.MAC)
				projectsMust(t, err)
				if got.Name != name(i) || got.SIP != sip(i) {
					t.Errorf("round %d: name %q, SIP %q; want %q and %q", i, got.Name, got.SIP, name(i), sip(i))
				}
			})
	})
}

// The API's apartment PATCH read the apartment, applied the request and
// saved the whole row in separate transactions.
func TestConcurrentApartmentEditsKeepBothFields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newProjectsWorld(t, backend)
		c, ctx := w.tc, w.mine
		b := &model.Building{ProjectID: w.community.ID, Name: "A"}
		projectsMust(t, c.CreateBuilding(ctx, b))
		a := &model.Apartment{BuildingID: b.ID, Number: "101"}
		projectsMust(t, c.CreateApartment(ctx, a))
		name := func(i int) string { return fmt.Sprintf("Flat %d", i) }
		limit := func(i int) int { return i%8 + 1 }
		edit := func(f func(*model.Apartment)) error {
			_, err := c.UpdateApartment(ctx, a.ID, func(a *model.Apartment) error { f(a); return nil })
			return err
		}
		lostUpdateRace(t,
			func(i int) error { return edit(func(a *model.Apartment) { a.Name = name(i) }) },
			func(i int) error { return edit(func(a *model.Apartment) { a.FamilyMemberLimit = limit(i) }) },
			func(i int) {
				got, err := c.store.GetApartment(ctx, a.ID)
				projectsMust(t, err)
				if got.Name != name(i) || got.FamilyMemberLimit != limit(i) {
					t.Errorf("round %d: name %q, limit %d; want %q and %d", i, got.Name, got.FamilyMemberLimit, name(i), limit(i))
				}
			})
	})
}
