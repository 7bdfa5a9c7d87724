package model

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Webhooks (issue 16): an account registers HTTPS endpoints with the event
// types it wants; events of its own subtree are signed and POSTed to them,
// retried for a day, and logged per delivery.

// Webhook event types.
const (
	EventDeviceOnline    = "device.online"
	EventDeviceOffline   = "device.offline"
	EventCommandDone     = "command.done"
	EventCommandFailed   = "command.failed"
	EventAutoPApplied    = "autop.applied"
	EventOrderCompleted  = "order.completed"
	EventOrderFailed     = "order.failed"
	EventOrderTimedOut   = "order.timed_out"
	EventEndUserExpiring = "enduser.expiring"
	EventRolloutStarted  = "rollout.started"
	EventRolloutPaused   = "rollout.paused"
	EventRolloutResumed  = "rollout.resumed"
	EventRolloutDone     = "rollout.completed"
	EventRolloutCanceled = "rollout.canceled"
	// EventTest is what "Send a test event" sends, to one endpoint only;
	// nobody subscribes to it.
	EventTest = "webhook.test"
)

// WebhookEventTypes lists the types an endpoint may subscribe to; an
// event type's bit in an endpoint's mask is its index here (never reorder:
// append).
var WebhookEventTypes = []string{
	EventDeviceOnline, EventDeviceOffline, EventCommandDone, EventCommandFailed, EventAutoPApplied,
	EventOrderCompleted, EventOrderFailed, EventOrderTimedOut, EventEndUserExpiring,
	EventRolloutStarted, EventRolloutPaused, EventRolloutResumed, EventRolloutDone, EventRolloutCanceled,
}

// WebhookEventBit is the mask bit of an event type (0 for an unknown one).
func WebhookEventBit(typ string) int64 {
	if i := slices.Index(WebhookEventTypes, typ); i >= 0 {
		return 1 << i
	}
	return 0
}

// Webhook limits.
const (
	MaxWebhookEndpoints   = 20   // per account
	MaxWebhookURL         = 2048 // bytes
	MaxWebhookDescription = 200  // characters
	// WebhookRetryFor is how long a delivery is retried, and how long an
	// endpoint may fail without a success before it is disabled.
	WebhookRetryFor = 24 * time.Hour
	// WebhookExcerpt bounds the response body kept per delivery.
	WebhookExcerpt = 1024
)

// WebhookEndpoint is one registered receiver. Secret is set only when it
// is made or rotated: the one time it is shown.
type WebhookEndpoint struct {
	ID             int64      `json:"id"`
	AccountID      int64      `json:"account_id"`
	URL            string     `json:"url"`
	Description    string     `json:"description"`
	Events         []string   `json:"events"`
	Enabled        bool       `json:"enabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	FailingSince   *time.Time `json:"failing_since,omitempty"`
	Created        time.Time  `json:"created"`
	Updated        time.Time  `json:"updated"`
	Secret         string     `json:"secret,omitempty"`
}

// WebhookEndpointInput is what a person sends to make or change an
// endpoint. Enabled nil keeps the current state (on, for a new one).
type WebhookEndpointInput struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"`
	Enabled     *bool    `json:"enabled,omitempty"`
}

// Normalize trims the input, expands "rollout.*" and "*", and validates it:
// an absolute https URL of at most MaxWebhookURL bytes, with a host and no
// user info or fragment (an IP literal of a private range is refused unless
// allowPrivate; names are checked where they are dialed), and known event
// types, at least one. It returns the event mask.
func (in *WebhookEndpointInput) Normalize(allowPrivate bool) (int64, error) {
	var v Validator
	in.URL = strings.TrimSpace(in.URL)
	in.Description = strings.TrimSpace(in.Description)
	if msg := webhookURLProblem(in.URL, allowPrivate); msg != "" {
		v.Add("url", "%s", msg)
	}
	v.Check(utf8.ValidString(in.Description) && utf8.RuneCountInString(in.Description) <= MaxWebhookDescription &&
		!strings.ContainsAny(in.Description, "\x00\r\n"), "description", "must be one line of at most %d characters", MaxWebhookDescription)
	var mask int64
	var events []string
	if len(in.Events) > 64 {
		v.Add("events", "lists too many types")
	}
	for _, e := range in.Events {
		e = strings.TrimSpace(e)
		var add []string
		switch {
		case e == "*":
			add = WebhookEventTypes
		case strings.HasSuffix(e, ".*") && len(e) < 40:
			p := strings.TrimSuffix(e, "*")
			for _, t := range WebhookEventTypes {
				if strings.HasPrefix(t, p) {
					add = append(add, t)
				}
			}
		case WebhookEventBit(e) != 0:
			add = []string{e}
		}
		if len(add) == 0 {
			if len(e) > 40 {
				e = e[:40]
			}
			v.Add("events", "%q is not an event type: use %s", e, strings.Join(WebhookEventTypes, ", "))
			break
		}
		for _, t := range add {
			if b := WebhookEventBit(t); mask&b == 0 {
				mask |= b
			}
		}
	}
	if mask == 0 && len(in.Events) == 0 {
		v.Add("events", "must name at least one event type")
	}
	for _, t := range WebhookEventTypes {
		if mask&WebhookEventBit(t) != 0 {
			events = append(events, t)
		}
	}
	in.Events = events
	return mask, v.Err()
}

func webhookURLProblem(raw string, allowPrivate bool) string {
	if raw == "" {
		return "is required: the https:// address that receives the events"
	}
	if len(raw) > MaxWebhookURL || !utf8.ValidString(raw) || strings.ContainsAny(raw, " \x00\r\n\t") {
		return "must be one https:// address of at most 2048 bytes without spaces"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "is not a valid absolute URL"
	}
	if u.Scheme != "https" {
		return "must start with https://: events are delivered over HTTPS only"
	}
	if u.User != nil {
		return "must not carry a user name or password"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not have a #fragment"
	}
	host := u.Hostname()
	if host == "" {
		return "has no host"
	}
	if p := u.Port(); p != "" {
		if n, ok := atoiPort(p); !ok || n == 0 {
			return "has an invalid port"
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !allowPrivate && WebhookAddrBlocked(ip) {
			return "points at a loopback, private or otherwise internal address, which webhooks do not reach"
		}
	} else if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		if !allowPrivate {
			return "points at this machine (localhost), which webhooks do not reach"
		}
	} else if net.ParseIP(host) == nil && strings.Trim(host, ".") == "" {
		return "has no host"
	}
	return ""
}

func atoiPort(p string) (int, bool) {
	if len(p) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= 65535
}

var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo…)
	netip.MustParsePrefix("::ffff:0:0/96"),   // (an unmapped address is checked as IPv4)
	netip.MustParsePrefix("::/128"),          // unspecified
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local (cloud metadata)
	netip.MustParsePrefix("fe80::/10"),       // link-local
	netip.MustParsePrefix("fc00::/7"),        // unique local (ULA)
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("10.0.0.0/8"),      // private
	netip.MustParsePrefix("172.16.0.0/12"),   // private
	netip.MustParsePrefix("192.168.0.0/16"),  // private
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("ff00::/8"),        // multicast
	netip.MustParsePrefix("::1/128"),         // loopback
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
}

// WebhookAddrBlocked reports whether a webhook may not be delivered to ip
// (unless the operator allows private addresses): loopback, private,
// link-local, unspecified, multicast, carrier-grade NAT, IPv6 unique local
// and the other special-purpose ranges. An IPv4-mapped IPv6 address is
// judged as its IPv4 address.
func WebhookAddrBlocked(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap().WithZone("")
	if v4, ok := embeddedIPv4(ip); ok {
		// A translated address reaches the IPv4 address inside it.
		ip = v4
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() ||
		ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64 (RFC 6052): the last 32 bits
	sixToFour   = netip.MustParsePrefix("2002::/16")    // 6to4 (RFC 3056): bits 16–47
	v4Compat    = netip.MustParsePrefix("::/96")        // deprecated IPv4-compatible: the last 32 bits
)

// embeddedIPv4 returns the IPv4 address an IPv6 address of a translation
// range leads to (NAT64, 6to4, IPv4-compatible).
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case nat64Prefix.Contains(ip), v4Compat.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// WebhookDelivery is one event's delivery to one endpoint, as the log
// shows it.
type WebhookDelivery struct {
	ID         int64      `json:"id"`
	EndpointID int64      `json:"endpoint_id"`
	EventID    string     `json:"event_id"`
	EventType  string     `json:"event_type"`
	State      string     `json:"state"` // pending | succeeded | failed
	Attempts   int        `json:"attempts"`
	HTTPStatus int        `json:"http_status"`
	LatencyMS  int64      `json:"latency_ms"`
	Excerpt    string     `json:"response_excerpt"`
	Error      string     `json:"error,omitempty"`
	NextAt     *time.Time `json:"next_attempt,omitempty"`
	LastAt     *time.Time `json:"last_attempt,omitempty"`
	Created    time.Time  `json:"created"`
	Payload    string     `json:"-"`
}

// Webhook delivery states.
const (
	WebhookPending   = "pending"
	WebhookSucceeded = "succeeded"
	WebhookFailed    = "failed"
)

// WebhookEvent is the JSON body of a delivery.
type WebhookEvent struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Created time.Time      `json:"created"`
	Data    map[string]any `json:"data"`
}

// WebhookDispatch is a claimed delivery, with what its attempt needs.
type WebhookDispatch struct {
	DeliveryID int64
	EndpointID int64
	URL        string
	Secret     string
	Attempts   int // including this one
	GiveUpAt   time.Time
	EventID    string
	EventType  string
	Created    time.Time
	Data       string // JSON object
}

// WebhookAttempt is the outcome of one attempt.
type WebhookAttempt struct {
	OK         bool
	HTTPStatus int
	Latency    time.Duration
	Excerpt    string
	Error      string
	RetryAt    time.Time // when to try again, should it fail
}

// WebhookDisabled is an endpoint the dispatcher disabled after a day of
// failures, with whom to tell.
type WebhookDisabled struct {
	EndpointID int64
	URL        string
	Account    string
	Name       string
	Email      string
	Language   string
	Since      time.Time
}
