package usecase

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// feedbackSendTimeout bounds the delivery of one feedback mail.
const feedbackSendTimeout = 45 * time.Second

// SubmitFeedback stores feedback from the installer of ctx, then mails it
// to the sub-distributor's feedback address with Reply-To the installer's
// contact email. The feedback is stored first: a failed delivery is logged
// and leaves the row marked not mailed (f.Mailed false), and the installer
// still succeeds.
func (c *Cases) SubmitFeedback(ctx context.Context, f *model.Feedback) error {
	cs, err := c.store.CreateFeedback(ctx, f)
	if err != nil {
		return c.internal(ctx, "sending the feedback", err)
	}
	m := mail.Feedback(cs.Language, mail.FeedbackMail{Installer: f.Installer, Name: f.InstallerName, Email: f.ContactEmail,
		Subject: f.Subject, Message: f.Message, Sent: f.Created, Link: c.publicURL + "/settings#feedback"})
	m.To = []string{cs.FeedbackEmail}
	// The delivery finishes even when the client goes away meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), feedbackSendTimeout)
	defer cancel()
	if c.mail == nil {
		c.log.Error("feedback not mailed: no mail sender", "feedback", f.ID)
		return nil
	}
	if err := c.mail.Send(sctx, m); err != nil {
		c.log.Error("feedback stored but not mailed", "feedback", f.ID, "installer", f.Installer, "to", cs.FeedbackEmail, "err", err)
		return nil
	}
	if err := c.store.MarkFeedbackMailed(sctx, f.ID); err != nil {
		c.log.Error("feedback mailed but not marked so", "feedback", f.ID, "err", err)
		return nil
	}
	f.Mailed = true
	return nil
}
