package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The Setting module: a sub-distributor's customer service contacts, which
// its installers read, and the feedback those installers send it.

// customerService reads the settings of sub-distributor subID without
// scoping (callers scope first); a sub-distributor that never saved them has
// the defaults.
func (s *Store) customerService(ctx context.Context, q querier, subID int64) (*model.CustomerService, error) {
	var cs model.CustomerService
	var name, company string
	var updated sql.NullTime
	err := q.QueryRowContext(ctx, s.q(`SELECT a.id, a.name, a.company, COALESCE(c.email, ''), COALESCE(c.phone, ''),
		COALESCE(c.other, ''), COALESCE(c.receive_feedback, false), COALESCE(c.feedback_email, ''), COALESCE(c.language, 'en'), c.updated_at
		FROM accounts a LEFT JOIN customer_service c ON c.subdistributor_id = a.id
		WHERE a.id = ? AND a.role = 'subdistributor'`), subID).Scan(&cs.SubdistributorID, &name, &company, &cs.Email, &cs.Phone,
		&cs.Other, &cs.ReceiveFeedback, &cs.FeedbackEmail, &cs.Language, &updated)
	if isNoRows(err) {
		return nil, model.NotFound("sub-distributor")
	} else if err != nil {
		return nil, err
	}
	cs.Subdistributor = company
	if cs.Subdistributor == "" {
		cs.Subdistributor = name
	}
	if updated.Valid {
		t := updated.Time.UTC()
		cs.Updated = &t
	}
	return &cs, nil
}

// GetCustomerService returns the customer service settings of
// sub-distributor subID: for the sub-distributor itself and its ancestors,
// and for its own installers (who do not see the feedback address). Any
// other id is not found.
func (s *Store) GetCustomerService(ctx context.Context, subID int64) (*model.CustomerService, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Role == model.RoleInstaller {
		if subID == 0 || subID != act.SubdistributorID {
			return nil, model.NotFound("sub-distributor")
		}
	} else {
		cond, args := accountScope(act, "a")
		var n int
		if err := s.queryRow(ctx, `SELECT count(*) FROM accounts a WHERE a.id = ? AND a.role = 'subdistributor' AND `+cond,
			append([]any{subID}, args...)...).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, model.NotFound("sub-distributor")
		}
	}
	cs, err := s.customerService(ctx, s.db, subID)
	if err != nil {
		return nil, err
	}
	if act.Role == model.RoleInstaller {
		cs.FeedbackEmail = ""
	}
	return cs, nil
}

// PutCustomerService saves the customer service settings of
// sub-distributor subID. Only the sub-distributor itself (or the admin, as
// the demo loader does) may.
func (s *Store) PutCustomerService(ctx context.Context, subID int64, cs *model.CustomerService) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	cs.Normalize()
	if err := cs.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		a, err := s.getAccount(ctx, tx.tx, act, subID)
		if err != nil {
			return err
		}
		if a.Role != model.RoleSubdistributor {
			return model.NotFound("sub-distributor")
		}
		if act.Role != model.RoleAdmin && act.AccountID != subID {
			return model.Errorf(model.EFORBIDDEN, "Only the sub-distributor sets its customer service contacts.")
		}
		now := s.now()
		if _, err := tx.exec(ctx, `INSERT INTO customer_service (subdistributor_id, email, phone, other, receive_feedback,
			feedback_email, language, updated_at) VALUES (?,?,?,?,?,?,?,?)
			ON CONFLICT (subdistributor_id) DO UPDATE SET email = excluded.email, phone = excluded.phone, other = excluded.other,
			receive_feedback = excluded.receive_feedback, feedback_email = excluded.feedback_email, language = excluded.language,
			updated_at = excluded.updated_at`,
			subID, cs.Email, cs.Phone, cs.Other, cs.ReceiveFeedback, cs.FeedbackEmail, cs.Language, now); err != nil {
			return err
		}
		cs.SubdistributorID, cs.Updated = subID, &now
		cs.Subdistributor = a.Company
		if cs.Subdistributor == "" {
			cs.Subdistributor = a.Name
		}
		return s.audit(ctx, tx, "settings.customer_service", "account", subID, map[string]any{
			"email": cs.Email, "phone": cs.Phone, "receive_feedback": cs.ReceiveFeedback,
			"feedback_email": cs.FeedbackEmail, "language": cs.Language})
	})
}

// CreateFeedback stores feedback from the signed-in installer for its
// sub-distributor. It is refused (conflict) when the installer has no
// sub-distributor or that one has Receive Feedback off. An empty contact
// email becomes the installer's own. It returns the sub-distributor's
// settings as they were checked, for mailing the feedback to its address
// (which is not the installer's to see).
func (s *Store) CreateFeedback(ctx context.Context, f *model.Feedback) (*model.CustomerService, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.Role != model.RoleInstaller {
		return nil, model.Errorf(model.EFORBIDDEN, "Only installers send feedback to their sub-distributor.")
	}
	f.Normalize()
	var cs *model.CustomerService
	err = s.inTx(ctx, func(tx *Tx) error {
		inst, err := s.getAccount(ctx, tx.tx, act, act.AccountID)
		if err != nil {
			return err
		}
		if inst.SubdistributorID == 0 {
			return model.Errorf(model.ECONFLICT, "Your account is not under a sub-distributor, so there is nobody to receive feedback.")
		}
		cs, err = s.customerService(ctx, tx.tx, inst.SubdistributorID)
		if err != nil {
			return err
		}
		if !cs.ReceiveFeedback {
			return model.Errorf(model.ECONFLICT, "%s is not receiving feedback at the moment. Please use the customer service contacts instead.", cs.Subdistributor)
		}
		if f.ContactEmail == "" {
			f.ContactEmail = inst.Email
		}
		if err := f.Validate(); err != nil {
			return err
		}
		f.SubdistributorID, f.InstallerID, f.Installer, f.Mailed, f.Created = inst.SubdistributorID, inst.ID, inst.Username, false, s.now()
		f.InstallerName = inst.Company
		if f.InstallerName == "" {
			f.InstallerName = inst.Name
		}
		if err := tx.queryRow(ctx, `INSERT INTO feedback (subdistributor_id, installer_id, installer_username, installer_name,
			subject, message, contact_email, mailed, created_at) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id`,
			f.SubdistributorID, f.InstallerID, f.Installer, f.InstallerName, f.Subject, f.Message, f.ContactEmail, false, f.Created).Scan(&f.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "feedback.create", "feedback", f.ID, map[string]any{"subject": f.Subject, "subdistributor_id": f.SubdistributorID})
	})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// feedbackScope limits feedback rows (aliased f) to the actor's subtree:
// the admin all, a distributor its sub-distributors', a sub-distributor its
// own, an installer what it sent.
func feedbackScope(a *model.Actor) (string, []any) {
	switch a.Role {
	case model.RoleAdmin:
		return "1=1", nil
	case model.RoleDistributor:
		return "f.subdistributor_id IN (SELECT sd.id FROM accounts sd WHERE sd.distributor_id = ? AND sd.role = 'subdistributor')", []any{a.AccountID}
	case model.RoleSubdistributor:
		return "f.subdistributor_id = ?", []any{a.AccountID}
	default:
		return "f.installer_id = ?", []any{a.AccountID}
	}
}

// MarkFeedbackMailed records that feedback reached its address.
func (s *Store) MarkFeedbackMailed(ctx context.Context, id int64) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	cond, args := feedbackScope(act)
	return s.inTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM feedback f WHERE f.id = ? AND `+cond, append([]any{id}, args...)...).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return model.NotFound("feedback")
		}
		if _, err := tx.exec(ctx, `UPDATE feedback SET mailed = true WHERE id = ?`, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "feedback.mailed", "feedback", id, nil)
	})
}

const feedbackCols = `f.id, f.subdistributor_id, f.installer_id, f.installer_username, f.installer_name, f.subject, f.message,
	f.contact_email, f.mailed, f.created_at`

func scanFeedback(r scanner) (*model.Feedback, error) {
	var f model.Feedback
	err := r.Scan(&f.ID, &f.SubdistributorID, nid(&f.InstallerID), &f.Installer, &f.InstallerName, &f.Subject, &f.Message,
		&f.ContactEmail, &f.Mailed, &f.Created)
	return &f, err
}

// ListFeedback lists the feedback of the actor's subtree, newest first,
// searching by installer (account or name) and subject.
func (s *Store) ListFeedback(ctx context.Context, fl model.FeedbackFilter) (model.List[*model.Feedback], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*model.Feedback]{}, err
	}
	cond, args := feedbackScope(act)
	where := []string{cond}
	if v := strings.TrimSpace(fl.Installer); v != "" {
		where = append(where, `(lower(f.installer_username) LIKE ? ESCAPE '\' OR lower(f.installer_name) LIKE ? ESCAPE '\')`)
		p := likeContains(v)
		args = append(args, p, p)
	}
	if v := strings.TrimSpace(fl.Subject); v != "" {
		where = append(where, `lower(f.subject) LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(v))
	}
	return list(ctx, s, "feedback f", strings.Join(where, " AND "), "f.created_at DESC, f.id DESC", feedbackCols, args, fl.Page, scanFeedback)
}
