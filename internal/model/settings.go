package model

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// CustomerService is the Setting module of a sub-distributor: the contacts
// its installers see in their portal, and whether their feedback is
// received, at which address and in which language it is mailed.
type CustomerService struct {
	SubdistributorID int64      `json:"subdistributor_id"`        // 0: the installer has no sub-distributor
	Subdistributor   string     `json:"subdistributor,omitempty"` // its name, for the installer's page
	Email            string     `json:"email"`
	Phone            string     `json:"phone"`
	Other            string     `json:"other"`
	ReceiveFeedback  bool       `json:"receive_feedback"`
	FeedbackEmail    string     `json:"feedback_email"` // empty for installers: not theirs to know
	Language         string     `json:"language"`       // of the feedback emails
	Updated          *time.Time `json:"updated_at,omitempty"`
}

// Limits of the Setting module's text fields, in characters.
const (
	MaxContactOther      = 1000
	MaxFeedbackSubject   = 200
	MaxFeedbackMessage   = 5000
	maxSettingsEmailSize = 254
)

// HasContacts reports whether any contact is set.
func (c *CustomerService) HasContacts() bool { return c.Email != "" || c.Phone != "" || c.Other != "" }

// Normalize trims the fields and fills the language.
func (c *CustomerService) Normalize() {
	c.Email = strings.TrimSpace(c.Email)
	c.Phone = strings.TrimSpace(c.Phone)
	c.Other = strings.TrimSpace(strings.ReplaceAll(c.Other, "\r\n", "\n"))
	c.FeedbackEmail = strings.TrimSpace(c.FeedbackEmail)
	c.Language = strings.TrimSpace(c.Language)
	if c.Language == "" {
		c.Language = "en"
	}
}

// Validate checks the settings before they are stored: Receive Feedback
// needs the address the feedback goes to.
func (c *CustomerService) Validate() error {
	var v Validator
	v.Check(c.Email == "" || settingsEmail(c.Email), "email", "is not a valid email address")
	v.Check(ValidPhone(c.Phone), "phone", "may hold only digits, spaces and + - ( ), at most 32")
	v.Check(utf8.RuneCountInString(c.Other) <= MaxContactOther, "other", "must be at most %d characters", MaxContactOther)
	v.Check(!settingsControl(c.Other, true), "other", "must not contain control characters")
	if c.ReceiveFeedback {
		v.Check(c.FeedbackEmail != "", "feedback_email", "is required when Receive Feedback is on")
	}
	v.Check(c.FeedbackEmail == "" || settingsEmail(c.FeedbackEmail), "feedback_email", "is not a valid email address")
	v.Check(contains(Languages, c.Language), "language", "must be one of %s", strings.Join(Languages, ", "))
	return v.Err()
}

// Feedback is one message an installer sent to its sub-distributor.
type Feedback struct {
	ID               int64     `json:"id"`
	SubdistributorID int64     `json:"subdistributor_id"`
	InstallerID      int64     `json:"installer_id"`
	Installer        string    `json:"installer"`      // the installer's account name
	InstallerName    string    `json:"installer_name"` // its name or company
	Subject          string    `json:"subject"`
	Message          string    `json:"message"`
	ContactEmail     string    `json:"contact_email"`
	Mailed           bool      `json:"mailed"` // delivered to the feedback address
	Created          time.Time `json:"created_at"`
}

// Normalize trims the fields.
func (f *Feedback) Normalize() {
	f.Subject = strings.Join(strings.Fields(f.Subject), " ")
	f.Message = strings.TrimSpace(strings.ReplaceAll(f.Message, "\r\n", "\n"))
	f.ContactEmail = strings.TrimSpace(f.ContactEmail)
}

// Validate checks feedback before it is stored.
func (f *Feedback) Validate() error {
	var v Validator
	v.Check(f.Subject != "", "subject", "is required")
	v.Check(utf8.RuneCountInString(f.Subject) <= MaxFeedbackSubject, "subject", "must be at most %d characters", MaxFeedbackSubject)
	v.Check(!settingsControl(f.Subject, false), "subject", "must not contain control characters")
	v.Check(f.Message != "", "message", "is required")
	v.Check(utf8.RuneCountInString(f.Message) <= MaxFeedbackMessage, "message", "must be at most %d characters", MaxFeedbackMessage)
	v.Check(!settingsControl(f.Message, true), "message", "must not contain control characters")
	v.Check(f.ContactEmail != "", "contact_email", "is required: where the answer goes")
	v.Check(f.ContactEmail == "" || settingsEmail(f.ContactEmail), "contact_email", "is not a valid email address")
	return v.Err()
}

// FeedbackFilter searches the feedback list.
type FeedbackFilter struct {
	Installer string // account or name contains
	Subject   string // subject contains
	Page
}

func settingsEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && !strings.ContainsAny(s, "<> ") && len(s) <= maxSettingsEmailSize
}

// settingsControl reports control characters (tabs, and line breaks when
// multiline, excepted).
func settingsControl(s string, multiline bool) bool {
	for _, r := range s {
		if r == '\t' || (multiline && r == '\n') {
			continue
		}
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
