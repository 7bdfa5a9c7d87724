package usecase

import (
	"context"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// RemoteControl is a Remote Control session just opened: the device's web
// interface through the cloud, for the caller's account only, for a short
// while.
type RemoteControl struct {
	// Session.URL is the session's link: on the separate Remote Control
	// origin with its single-use handoff code when there is one, else on
	// the portal's host (absolute when the public URL is known).
	Session *model.RemoteSession
	// Path is the link on the host the caller used, for a browser already
	// on the portal: set only when the session opens on the portal's host.
	Path string
	// RemoteHost is the separate Remote Control origin's host ("" when the
	// session opens on the portal's host): the portal cannot redirect a
	// form there (CSP form-action 'self') and names it on a page instead.
	RemoteHost string
}

// OpenRemoteControl opens a Remote Control session for the device mac of
// the caller's subtree; an offline device is a conflict.
func (c *Cases) OpenRemoteControl(ctx context.Context, mac string) (*RemoteControl, error) {
	token, rs, err := c.store.CreateRemoteSession(ctx, mac)
	if err != nil {
		return nil, c.internal(ctx, "opening Remote Control", err)
	}
	rc := &RemoteControl{Session: rs}
	if c.remoteURL != "" {
		rs.URL = c.remoteURL + RemotePath(token) + "?handoff=" + url.QueryEscape(rs.Handoff)
		rc.RemoteHost = c.remoteURL
		if u, err := url.Parse(c.remoteURL); err == nil {
			rc.RemoteHost = u.Host
		}
		return rc, nil
	}
	rc.Path = RemotePath(token)
	rs.URL = rc.Path
	if u, err := url.Parse(c.publicURL); err == nil && u.Host != "" {
		rs.URL = strings.TrimSuffix(c.publicURL, "/") + rc.Path
	}
	return rc, nil
}

// ClaimRemoteControl claims the session token, on the separate Remote
// Control origin, for the browser that followed its link with the
// single-use handoff code: it answers the device's MAC and the secret that
// browser keeps (a cookie) for the session's other requests.
func (c *Cases) ClaimRemoteControl(ctx context.Context, token, handoff string) (mac, browserSecret string, err error) {
	mac, browserSecret, err = c.store.ClaimRemoteSession(ctx, token, handoff)
	if err != nil {
		return "", "", c.internal(ctx, "opening the Remote Control link", err)
	}
	return mac, browserSecret, nil
}

// RemotePath is where the Remote Control session token is served.
func RemotePath(token string) string { return "/remote/" + token + "/" }
