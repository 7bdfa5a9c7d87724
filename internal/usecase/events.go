package usecase

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Change events. The store's write methods declare what they change on their
// transaction (model.Change); after COMMIT the store hands them to the one
// subscriber wired here, which publishes them on the bus and waits until
// every live node heard them (bus.Notices). Every node's AutoP file cache
// listens: it drops what it keeps on any AutoP change (coarse: writes that
// change a file are rare beside fetches, and finer keys would have to map
// installers and projects to the MACs cached), and serves only while its
// node is sure it hears the bus. So a write's response, sent after its
// store method returned, is never followed by an old file on any node
// whose bus works. A change a node missed without noticing (or one made by
// a process off the bus) is served at most the cache's age late
// (autopserver.autoPCacheAge).

// EventsAutoPSubject carries AutoP changes between nodes (a bus.Notices
// subject: acknowledged by every live node).
const EventsAutoPSubject = "gatehouse.autop.changed"

// eventsAutoPMessage is an AutoP change on the bus. Its content is for the
// logs and finer caches later: every listener now drops everything.
type eventsAutoPMessage struct {
	Changes []model.AutoPChange `json:"changes"`
}

// eventsWire registers the store's commit subscriber, which publishes the
// changes on b, and makes the store's AutoP cache listen to them: it drops
// its files on every change (this node's or another's) and on any notice
// this node may have missed, and serves only while the node hears the bus.
func eventsWire(st *store.Store, b bus.Bus, log *slog.Logger) {
	if st == nil {
		return
	}
	notices := bus.NoticesOf(b, EventsAutoPSubject)
	notices.Listen(func([]byte) { st.DropAutoPCache() }, st.DropAutoPCache)
	st.CacheAutoPWhile(notices.Hearing)
	st.OnCommit(func(ctx context.Context, changes []model.Change) { eventsPublish(ctx, notices, log, changes) })
}

// eventsPublish publishes the AutoP changes of one transaction and waits for
// every live node (bounded: bus.NoticeTimings.AckWait). The caller's
// cancellation does not cut the wait short: the write landed, and whoever
// is told of it next must not get an old file.
func eventsPublish(ctx context.Context, notices *bus.Notices, log *slog.Logger, changes []model.Change) {
	var msg eventsAutoPMessage
	for _, c := range changes {
		if a, ok := c.(model.AutoPChange); ok {
			msg.Changes = append(msg.Changes, a)
		}
	}
	if len(msg.Changes) == 0 {
		return
	}
	data, err := json.Marshal(msg)
	if err != nil {
		log.ErrorContext(ctx, "events: encode AutoP changes", "err", err)
		return
	}
	if err := notices.Publish(context.WithoutCancel(ctx), data); err != nil {
		// The nodes that did not answer stopped trusting their caches
		// (bus.Notices), or the change waits at most the cache's age.
		log.WarnContext(ctx, "events: AutoP change not acknowledged by every node", "err", err)
	}
}
