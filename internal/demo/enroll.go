package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// time30m is n half hours.
func time30m(n int) time.Duration { return time.Duration(n) * 30 * time.Minute }

// pendingKeys makes a few of the demo installer's devices (the last ones
// added, past those `make run` simulates) show keys waiting to be accepted,
// so that the Pending devices page has something to decide. Every other
// device is enrolled by the simulator (gatehouse devicesim --data).
func (g *gen) pendingKeys(ctx context.Context) error {
	rows, err := g.st.DB().QueryContext(ctx, `SELECT d.id FROM devices d JOIN accounts a ON a.id = d.installer_id
		WHERE a.username = '`+InstallerUser+`' ORDER BY d.id DESC LIMIT 3`)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	b := g.batch(ctx, "device_keys", "device_id", "key_hash", "remote_addr", "model", "firmware", "attempts", "first_at", "last_at")
	for i, id := range ids {
		sum := sha256.Sum256([]byte(fmt.Sprintf("demo-pending-%d-%d", g.o.Seed, id)))
		first := g.o.Now.Add(-time30m(i + 1))
		if err := b.add(id, hex.EncodeToString(sum[:]), fmt.Sprintf("198.51.100.%d:%d", 20+i, 40000+g.rng.IntN(20000)),
			[]string{"R29C", "X915S", "E16C"}[i%3], "29.30.1.12", 3+g.rng.IntN(20), first, g.o.Now.Add(-time30m(0))); err != nil {
			return err
		}
	}
	return b.flush()
}
