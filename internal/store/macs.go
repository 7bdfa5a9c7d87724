package store

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// MaxMACImport bounds one import (and one JSON add).
const MaxMACImport = 50_000

// ListMACs lists an installer's MAC library.
func (s *Store) ListMACs(ctx context.Context, installerID int64, f model.MACFilter) (model.List[*model.LibraryMAC], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*model.LibraryMAC]{}, err
	}
	if _, err := s.getInstaller(ctx, s.db, act, installerID); err != nil {
		return model.List[*model.LibraryMAC]{}, err
	}
	where, args := []string{"m.installer_id = ?"}, []any{installerID}
	if q := strings.TrimSpace(f.Search); q != "" {
		// A MAC typed with separators still finds it.
		mq := strings.NewReplacer(":", "", "-", "", ".", "").Replace(q)
		where = append(where, `(m.mac LIKE ? ESCAPE '\' OR lower(m.name) LIKE ? ESCAPE '\')`)
		args = append(args, strings.ToUpper(likeContains(mq)), likeContains(q))
	}
	if f.Unused {
		where = append(where, "NOT EXISTS (SELECT 1 FROM devices d WHERE d.mac = m.mac)")
	}
	return list(ctx, s, "installer_macs m", strings.Join(where, " AND "), "m.created_at DESC, m.id DESC",
		"m.id, m.installer_id, m.mac, m.name, EXISTS (SELECT 1 FROM devices d WHERE d.mac = m.mac), m.claim_hash <> '', m.created_at", args, f.Page,
		func(r scanner) (*model.LibraryMAC, error) {
			var m model.LibraryMAC
			err := r.Scan(&m.ID, &m.InstallerID, &m.MAC, &m.Name, &m.InUse, &m.ClaimCode, &m.Created)
			return &m, err
		})
}

// ImportMACs adds MACs to an installer's library. Every row is checked —
// format, repeated in the input, already in this library, registered to
// another installer — and the good rows are added in one transaction; the
// result names every rejected row by number and reason.
func (s *Store) ImportMACs(ctx context.Context, installerID int64, rows []model.MACRow) (model.ImportResult, error) {
	res := model.ImportResult{Rejected: []model.RowError{}}
	act, err := actor(ctx)
	if err != nil {
		return res, err
	}
	if len(rows) > MaxMACImport {
		return res, model.Invalid("file", "has %d rows; at most %d can be imported at once", len(rows), MaxMACImport)
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		inst, err := s.getInstaller(ctx, tx.tx, act, installerID)
		if err != nil {
			return err
		}
		type good struct {
			row              int
			mac, name, claim string
		}
		var cand []good
		seen := map[string]int{}
		for _, r := range rows {
			mac, ok := model.NormalizeMAC(r.MAC)
			name := strings.TrimSpace(r.Name)
			claim, okClaim := model.NormalizeClaimCode(r.Claim)
			if strings.TrimSpace(r.Claim) == "" {
				claim, okClaim = "", true
			}
			switch {
			case !ok:
				res.Rejected = append(res.Rejected, model.RowError{Row: r.Row, Value: r.MAC, Reason: "not a MAC address (12 hex digits, e.g. 0C:11:05:AA:BB:CC)"})
			case seen[mac] != 0:
				res.Rejected = append(res.Rejected, model.RowError{Row: r.Row, Value: r.MAC, Reason: "repeats row " + itoa(seen[mac])})
			case len(name) > 64:
				res.Rejected = append(res.Rejected, model.RowError{Row: r.Row, Value: r.MAC, Reason: "name is longer than 64 characters"})
			case !okClaim:
				res.Rejected = append(res.Rejected, model.RowError{Row: r.Row, Value: r.MAC, Reason: "claim code must be 12 to 64 letters and digits (dashes and spaces allowed)"})
			default:
				seen[mac] = r.Row
				cand = append(cand, good{r.Row, mac, name, claim})
			}
		}
		// Look the candidates up in chunks: owners in libraries and devices.
		owner := map[string]int64{}
		for start := 0; start < len(cand); start += 400 {
			chunk := cand[start:min(start+400, len(cand))]
			ph := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
			args := make([]any, len(chunk))
			for i, c := range chunk {
				args[i] = c.mac
			}
			rs, err := tx.query(ctx, `SELECT mac, installer_id FROM installer_macs WHERE mac IN (`+ph+`)
				UNION ALL SELECT mac, installer_id FROM devices WHERE mac IN (`+ph+`)`, append(args, args...)...)
			if err != nil {
				return err
			}
			for rs.Next() {
				var mac string
				var inst int64
				if err := rs.Scan(&mac, &inst); err != nil {
					rs.Close()
					return err
				}
				if _, ok := owner[mac]; !ok || inst != installerID {
					owner[mac] = inst
				}
			}
			rs.Close()
			if err := rs.Err(); err != nil {
				return err
			}
		}
		var add [][]any
		now := s.now()
		for _, c := range cand {
			switch o, ok := owner[c.mac]; {
			case ok && o != installerID:
				res.Rejected = append(res.Rejected, model.RowError{Row: c.row, Value: c.mac, Reason: "already registered to another installer"})
			case ok:
				res.Rejected = append(res.Rejected, model.RowError{Row: c.row, Value: c.mac, Reason: "already registered to this installer"})
			default:
				hash := ""
				if c.claim != "" {
					hash = ClaimCodeHash(c.claim)
				}
				add = append(add, []any{installerID, c.mac, c.name, hash, now})
			}
		}
		if err := bulkInsert(ctx, tx, "installer_macs", []string{"installer_id", "mac", "name", "claim_hash", "created_at"}, add); err != nil {
			return err
		}
		res.Imported = len(add)
		sortRowErrors(res.Rejected)
		return s.audit(ctx, tx, "installer.macs_import", "account", inst.ID, map[string]any{"imported": res.Imported, "rejected": len(res.Rejected)})
	})
	return res, err
}

// DeleteMAC removes a MAC from an installer's library.
func (s *Store) DeleteMAC(ctx context.Context, installerID int64, mac string) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	m, ok := model.NormalizeMAC(mac)
	if !ok {
		return model.NotFound("MAC")
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if _, err := s.getInstaller(ctx, tx.tx, act, installerID); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM installer_macs WHERE installer_id = ? AND mac = ?`, installerID, m)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return model.NotFound("MAC")
		}
		return s.audit(ctx, tx, "installer.mac_delete", "account", installerID, map[string]any{"mac": m})
	})
}
