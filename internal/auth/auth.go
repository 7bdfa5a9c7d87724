package auth

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Prefixes tell the two kinds of bearer token apart at a glance.
const (
	SessionPrefix  = "ghs_"
	APITokenPrefix = "gha_"
)

// Config holds the session and throttling limits.
type Config struct {
	IdleTimeout     time.Duration // a session unused this long ends
	AbsoluteTimeout time.Duration // a session ends this long after login, used or not
	// Failed logins are counted per (user name, address) and per address
	// within FailureWindow; past either budget logins answer 429. There is
	// no budget per user name alone: a stranger could spend it to lock the
	// user out for everybody.
	MaxFailures        int // per (user name, address)
	MaxAddressFailures int // per address, whatever the user names
	FailureWindow      time.Duration
}

// DefaultConfig is used unless flags say otherwise.
var DefaultConfig = Config{
	IdleTimeout:        2 * time.Hour,
	AbsoluteTimeout:    7 * 24 * time.Hour,
	MaxFailures:        10,
	MaxAddressFailures: 100,
	FailureWindow:      15 * time.Minute,
}

// Bounds of the login fields, in bytes. User names are at most 64
// characters; the slack keeps an email-shaped name possible.
const (
	MaxUsernameBytes = 254
	MaxPasswordBytes = model.MaxPasswordLength
)

// Service authenticates people and requests.
type Service struct {
	Store  *store.Store
	Config Config
	Log    *slog.Logger
	// Passkeys is this node as a WebAuthn relying party (from its public
	// URL); nil: no passkeys here.
	Passkeys *RelyingParty

	throttleMu sync.Mutex
	deciding   map[string]int // attempts being decided, by throttle key
}

// Identity is who a request comes from, as the middleware found it.
type Identity struct {
	Account  *model.Account // the signed-in account
	ActingAs *model.Account // the installer it works as ("access without password"), or nil
	Session  *model.Session // nil for API tokens
	Token    string         // the raw session token, for logout
	OwnToken string         // while acting through the portal: the account's own session token
	Bearer   bool           // authenticated by Authorization header: no CSRF needed
}

// Effective is the account the request works as: the installer while
// acting as one, else the signed-in account.
func (id *Identity) Effective() *model.Account {
	if id.ActingAs != nil {
		return id.ActingAs
	}
	return id.Account
}

// Actor is the tenancy identity of the request; while acting as an
// installer it is the installer, with the real account recorded for audit.
func (id *Identity) Actor() *model.Actor {
	if id.ActingAs == nil {
		return model.ActorOf(id.Account)
	}
	a := model.ActorOf(id.ActingAs)
	a.Real = model.ActorOf(id.Account)
	return a
}

// ThrottledError is returned when too many logins failed; RetryAfter says
// when the oldest counted failure leaves the window.
type ThrottledError struct {
	RetryAfter time.Duration
	Address    bool // the address's budget ran out, not only the pair's
}

func (e *ThrottledError) Error() string { return "too many failed logins" }

// RetryAfterSeconds is the Retry-After header value.
func (e *ThrottledError) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// Login checks a user name and password and opens a session. It returns the
// raw session token.
func (s *Service) Login(ctx context.Context, username, password, ip, userAgent string) (string, *model.Session, *model.Account, error) {
	username = strings.TrimSpace(username)
	var v model.Validator
	v.Check(username != "", "username", "is required")
	v.Check(len(username) <= MaxUsernameBytes, "username", "must be at most %d bytes", MaxUsernameBytes)
	v.Check(password != "", "password", "is required")
	// argon2 would hash any length, but no longer password can be set.
	v.Check(len(password) <= MaxPasswordBytes, "password", "must be at most %d bytes", MaxPasswordBytes)
	if err := v.Err(); err != nil {
		return "", nil, nil, err
	}
	addr := AddressKey(ip)
	acc, ok, err := s.checkThrottled(ctx, username, addr, password)
	if err != nil {
		return "", nil, nil, err
	}
	if !ok {
		return "", nil, nil, model.Errorf(model.EUNAUTHORIZED, "Wrong user name or password.")
	}
	// An account with two-factor sign-in gets a challenge, not a session.
	if totp, passkeys, err := s.Store.SecondFactorsForLogin(ctx, acc.ID); err != nil {
		return "", nil, nil, err
	} else if totp || passkeys {
		ch := ChallengePrefix + NewToken()
		exp := s.Store.Now().Add(challengeTTL)
		if err := s.Store.CreateLoginChallenge(ctx, HashToken(ch), acc.ID, exp); err != nil {
			return "", nil, nil, err
		}
		return "", nil, acc, &SecondFactorNeeded{Challenge: ch, Expires: exp, TOTP: totp, Passkey: passkeys && s.Passkeys != nil}
	}
	return s.openSession(ctx, acc, ip, userAgent)
}

// openSession opens a session for acc after its sign-in, and audits it.
func (s *Service) openSession(ctx context.Context, acc *model.Account, ip, userAgent string) (string, *model.Session, *model.Account, error) {
	now := s.Store.Now()
	tok := SessionPrefix + NewToken()
	// The epoch read with the password hash: a password change since then
	// refuses this session.
	se := &model.Session{
		TokenHash: HashToken(tok), AccountID: acc.ID, CSRFToken: NewToken(), UserAgent: userAgentText(userAgent), IP: truncate(ip, 64),
		Created: now, LastSeen: now, Expires: now.Add(s.Config.AbsoluteTimeout), Epoch: acc.CredentialEpoch,
	}
	if err := s.Store.CreateSession(ctx, se); err != nil {
		return "", nil, nil, err
	}
	actx := model.WithActor(ctx, model.ActorOf(acc))
	if err := s.Store.Audit(actx, "auth.login", "account", acc.ID, map[string]any{"ip": se.IP}); err != nil {
		return "", nil, nil, err
	}
	return tok, se, acc, nil
}

// ChangePassword changes the signed-in account's own password after
// checking the current one (under the login throttle: a stolen session must
// not be a way to guess it). Every session and API token of the account
// ends; the returned session replaces the caller's, so the person changing
// the password stays signed in while everyone else holding a credential is
// signed out.
func (s *Service) ChangePassword(ctx context.Context, id *Identity, current, next, ip, userAgent string) (string, *model.Session, error) {
	if id == nil || id.ActingAs != nil {
		return "", nil, model.Errorf(model.EFORBIDDEN, "Working in another account, you cannot change its password.")
	}
	var v model.Validator
	v.Check(current != "", "current_password", "is required")
	v.Check(len(current) <= MaxPasswordBytes, "current_password", "must be at most %d bytes", MaxPasswordBytes)
	model.ValidatePassword(&v, "new_password", next)
	if err := v.Err(); err != nil {
		return "", nil, err
	}
	acc, ok, err := s.checkThrottled(ctx, id.Account.Username, AddressKey(ip), current)
	if err != nil {
		return "", nil, err
	}
	if !ok || acc.ID != id.Account.ID {
		return "", nil, model.Invalid("current_password", "is wrong")
	}
	hash, err := HashPasswordContext(ctx, next)
	if err != nil {
		return "", nil, err
	}
	now := s.Store.Now()
	tok := SessionPrefix + NewToken()
	se := &model.Session{TokenHash: HashToken(tok), CSRFToken: NewToken(), UserAgent: userAgentText(userAgent), IP: truncate(ip, 64),
		Created: now, LastSeen: now, Expires: now.Add(s.Config.AbsoluteTimeout)}
	if err := s.Store.ChangeOwnPassword(model.WithActor(ctx, model.ActorOf(acc)), hash, se); err != nil {
		return "", nil, err
	}
	return tok, se, nil
}

// checkThrottled checks a password under the login throttle: it answers
// ThrottledError past a budget, and clears the (user name, address) pair's
// failures when the password is right. The whole check takes one turn at
// the password gate (BusyError when it gets none), so the attempts being
// decided at once in this process are at most the gate's slots.
func (s *Service) checkThrottled(ctx context.Context, username, addr, password string) (acc *model.Account, ok bool, err error) {
	if gerr := passwordGate.do(ctx, func() { acc, ok, err = s.checkThrottledInSlot(ctx, username, addr, password) }); gerr != nil {
		return nil, false, gerr
	}
	return acc, ok, err
}

func (s *Service) checkThrottledInSlot(ctx context.Context, username, addr, password string) (*model.Account, bool, error) {
	// Keyed as the store keys the rows (user names case-insensitively).
	pairKey, addrKey := "pair\x00"+addr+"\x00"+strings.ToLower(username), "addr\x00"+addr
	// The attempt is recorded before the password is checked and counted
	// with it, so parallel attempts cannot all slip under the limit: the
	// k-th attempt sees at least k rows. A good password removes the rows.
	// The attempts this process is still deciding have rows too but are not
	// failures (yet): they are not counted, so a right password arriving
	// while others are checked is not refused for them. Recording, counting
	// and registering happen under one lock so that the registry matches the
	// rows counted.
	s.throttleMu.Lock()
	now := s.Store.Now()
	attempt, err := s.Store.RecordLoginFailure(ctx, username, addr, now)
	if err != nil {
		s.throttleMu.Unlock()
		return nil, false, err
	}
	c, err := s.Store.LoginFailures(ctx, username, addr, now.Add(-s.Config.FailureWindow))
	if err != nil {
		s.throttleMu.Unlock()
		return nil, false, err
	}
	pair, byAddr := c.Pair-s.deciding[pairKey], c.Addr-s.deciding[addrKey]
	if pair > s.Config.MaxFailures || byAddr > s.Config.MaxAddressFailures {
		defer s.throttleMu.Unlock()
		var wait time.Duration
		if pair > s.Config.MaxFailures {
			wait = c.PairOldest.Add(s.Config.FailureWindow).Sub(now)
		}
		if byAddr > s.Config.MaxAddressFailures {
			wait = max(wait, c.AddrOldest.Add(s.Config.FailureWindow).Sub(now))
		}
		// A refused attempt does not count, so the lock ends when the window
		// has passed the oldest failure.
		if err := s.Store.DeleteLoginFailure(ctx, attempt); err != nil {
			return nil, false, err
		}
		return nil, false, &ThrottledError{RetryAfter: wait, Address: byAddr > s.Config.MaxAddressFailures}
	}
	if s.deciding == nil {
		s.deciding = map[string]int{}
	}
	s.deciding[pairKey]++
	s.deciding[addrKey]++
	s.throttleMu.Unlock()
	defer func() {
		s.throttleMu.Lock()
		for _, k := range []string{pairKey, addrKey} {
			if s.deciding[k]--; s.deciding[k] == 0 {
				delete(s.deciding, k)
			}
		}
		s.throttleMu.Unlock()
	}()

	acc, hash, err := s.Store.AccountForLogin(ctx, username)
	if model.ErrorCode(err) == model.ENOTFOUND {
		hash = ""
	} else if err != nil {
		return nil, false, err
	}
	// In its slot already: the check itself does not go through the gate.
	if hash == "" {
		CheckPassword(dummyHash, password)
		return nil, false, nil
	}
	ok, err := CheckPassword(hash, password)
	if err != nil {
		s.Log.Error("password hash unreadable", "account", acc.ID, "err", err)
	}
	// A disabled account's right password counts as a failure: clearing
	// the pair would tell a guesser it had found it.
	if !ok || acc.Disabled {
		return nil, false, nil
	}
	return acc, true, s.Store.ClearLoginFailures(ctx, username, addr)
}

// AddressKey is what the throttle counts an address as: an IPv4 address
// itself, an IPv6 address by its /64 (one subscriber's prefix, which it
// can vary at will), anything else bounded as it is.
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return truncate(ip, 64)
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// Authenticate resolves a session or API token. Expired sessions are deleted
// and answer ENOTFOUND like unknown ones.
func (s *Service) Authenticate(ctx context.Context, tok string) (*Identity, error) {
	now := s.Store.Now()
	if strings.HasPrefix(tok, APITokenPrefix) {
		acc, err := s.Store.AccountByAPIToken(ctx, HashToken(tok), now)
		if err != nil {
			return nil, err
		}
		return &Identity{Account: acc}, nil
	}
	hash := HashToken(tok)
	se, acc, err := s.Store.SessionByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	if now.After(se.Expires) || now.Sub(se.LastSeen) > s.Config.IdleTimeout {
		if err := s.Store.DeleteSession(ctx, hash); err != nil {
			return nil, err
		}
		return nil, model.NotFound("session")
	}
	id := &Identity{Account: acc, Session: se, Token: tok}
	if se.ActingAsID != 0 {
		// Access without password ends when the installer revokes it or
		// leaves the account's subtree.
		inst, err := s.Store.GetInstaller(model.WithActor(ctx, model.ActorOf(acc)), se.ActingAsID)
		if err != nil || !inst.AccessWithoutPassword {
			if err := s.Store.DeleteSession(ctx, hash); err != nil {
				return nil, err
			}
			return nil, model.NotFound("session")
		}
		id.ActingAs = inst
	}
	// Writing last-seen on every request would make each read a write; a
	// minute of slack in the idle expiry is fine.
	if now.Sub(se.LastSeen) > time.Minute {
		if err := s.Store.TouchSession(ctx, hash, now); err != nil && !store.IsDiskFull(err) {
			// A full disk refuses changes, not reads: last-seen waits.
			return nil, err
		}
	}
	return id, nil
}

// Logout ends a session; logging out while working as an installer ends
// the account's own session too.
func (s *Service) Logout(ctx context.Context, id *Identity) error {
	if id == nil || id.Session == nil {
		return nil
	}
	hashes := []string{id.Session.TokenHash}
	if id.OwnToken != "" {
		hashes = append(hashes, HashToken(id.OwnToken))
	}
	return s.Store.EndSessions(ctx, id.Account.ID, hashes...)
}

// CSRFValid compares a submitted CSRF token with the session's.
func CSRFValid(se *model.Session, submitted string) bool {
	return se != nil && submitted != "" && subtle.ConstantTimeCompare([]byte(se.CSRFToken), []byte(submitted)) == 1
}

// RunJanitor deletes stale sessions, old login failures and old password
// recovery requests every `every`
// until ctx ends, and returns then: the caller owns its goroutine and waits
// for it before closing the store. Each round has a deadline.
func (s *Service) RunJanitor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, janitorRoundTimeout)
			now := s.Store.Now()
			if _, err := s.Store.DeleteStaleSessions(rctx, now, now.Add(-s.Config.IdleTimeout)); err != nil && ctx.Err() == nil {
				s.Log.Error("session cleanup", "err", err)
			}
			if err := s.PruneLoginFailures(rctx); err != nil && ctx.Err() == nil {
				s.Log.Error("login failure cleanup", "err", err)
			}
			if err := s.Store.PruneRecoveryRequests(rctx); err != nil && ctx.Err() == nil {
				s.Log.Error("password recovery request cleanup", "err", err)
			}
			cancel()
		}
	}
}

// janitorRoundTimeout bounds one round of RunJanitor's deletes.
const janitorRoundTimeout = time.Minute

// PruneLoginFailures drops the failures older than the window, which no
// longer count.
func (s *Service) PruneLoginFailures(ctx context.Context) error {
	return s.Store.PruneLoginFailures(ctx, s.Store.Now().Add(-s.Config.FailureWindow))
}

// userAgentText is the stored form of a client's User-Agent header: valid
// UTF-8 (a header may carry any byte, and PostgreSQL refuses what is not
// UTF-8, failing the login) cut to 256 bytes on a character boundary.
func userAgentText(ua string) string { return model.StorableText(ua, 256) }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

type identityKey struct{}

// WithIdentity stores the request's identity in ctx.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the request's identity, or nil when anonymous.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// ClientIP is the address a request came from (the server rewrites
// RemoteAddr from X-Forwarded-For only when told to trust a proxy).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
