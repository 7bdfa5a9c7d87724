package usecase

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

type eventsOtherChange struct{}

func (eventsOtherChange) ChangeKind() string { return "other" }

// A transaction's AutoP changes go on the bus as one notice, heard before
// eventsPublish returns; other kinds of change do not.
func TestEventsPublishAutoPChanges(t *testing.T) {
	b := bus.NewLocal()
	n := bus.NoticesOf(b, EventsAutoPSubject)
	var heard [][]byte
	n.Listen(func(d []byte) { heard = append(heard, d) }, func() {})
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))

	eventsPublish(context.Background(), n, log, []model.Change{eventsOtherChange{}})
	if len(heard) != 0 {
		t.Fatalf("a change of another kind was published: %q", heard)
	}
	eventsPublish(context.Background(), n, log, []model.Change{
		model.AutoPChange{MACs: []string{"0C1105000001"}}, eventsOtherChange{}, model.AutoPChange{ProjectIDs: []int64{7}},
	})
	if len(heard) != 1 {
		t.Fatalf("one transaction's changes: %d notices", len(heard))
	}
	var msg eventsAutoPMessage
	if err := json.Unmarshal(heard[0], &msg); err != nil {
		t.Fatal(err)
	}
	if len(msg.Changes) != 2 || msg.Changes[0].MACs[0] != "0C1105000001" || msg.Changes[1].ProjectIDs[0] != 7 {
		t.Errorf("published %s", heard[0])
	}
	if logged.Len() != 0 {
		t.Errorf("logged: %s", logged.String())
	}
}
