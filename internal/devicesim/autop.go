package devicesim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxAutoPFile bounds the AutoP file a device reads.
const maxAutoPFile = 4 << 20

// Setting is one line of an AutoP file.
type Setting struct{ Key, Value string }

// ParseAutoP reads an AutoP file (protocol §7): one
// `Config.<Module>.<SECTION>.<Item> = <value>` a line, `#` comments; it
// returns the settings in file order and the version named by the first
// comment line (`# Gatehouse AutoP <MAC> version <V>`), if any. Lines that
// are not settings are skipped, as a device skips what it does not know.
func ParseAutoP(r io.Reader) (settings []Setting, version string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	first := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			first = false
			line = strings.TrimPrefix(line, "\ufeff")
			if strings.HasPrefix(line, "#") {
				f := strings.Fields(line)
				for i := 0; i+1 < len(f); i++ {
					if f[i] == "version" {
						version = f[i+1]
					}
				}
			}
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || !strings.HasPrefix(k, "Config.") || strings.Count(k, ".") < 3 {
			continue
		}
		settings = append(settings, Setting{k, v})
	}
	return settings, version, sc.Err()
}

// fetchAutoP fetches the device's AutoP file from url (Basic MAC:key,
// If-None-Match its version) and applies it: the lines in order, later
// ones winning, on top of the configuration it has (a device keeps what
// it applied until a reset). It returns the version now applied and
// whether it changed; a 304 keeps the current version.
func (d *Device) fetchAutoP(ctx context.Context, url string) (version string, changed bool, err error) {
	d.autopMu.Lock()
	defer d.autopMu.Unlock()
	d.mu.Lock()
	key, cur := d.key, d.version
	d.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", false, fmt.Errorf("autop: %w", err)
	}
	req.SetBasicAuth(d.mac, key)
	if cur != "" {
		req.Header.Set("If-None-Match", `"`+cur+`"`)
	}
	resp, err := d.f.httpClient.Do(req)
	if err != nil {
		return "", false, fmt.Errorf("autop: %w", err)
	}
	defer resp.Body.Close()
	d.logf("autop[301]", "fetch %s: HTTP %d", req.URL.Path, resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusNotModified:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return cur, false, nil
	case http.StatusOK:
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return "", false, &autopStatusError{url, resp.StatusCode}
	}
	settings, fileVersion, err := ParseAutoP(io.LimitReader(resp.Body, maxAutoPFile))
	if err != nil {
		return "", false, fmt.Errorf("autop: reading the file: %w", err)
	}
	version = strings.TrimSpace(resp.Header.Get("X-Gatehouse-Config-Version"))
	if version == "" {
		version = strings.Trim(strings.TrimPrefix(strings.TrimSpace(resp.Header.Get("ETag")), "W/"), `"`)
	}
	if version == "" {
		version = fileVersion
	}
	d.mu.Lock()
	cfg := make(map[string]string, len(d.config)+len(settings))
	for k, v := range d.config {
		cfg[k] = v
	}
	for _, s := range settings {
		cfg[s.Key] = s.Value
	}
	changed = version != d.version
	d.config, d.version = cfg, version
	d.notifyLocked()
	d.mu.Unlock()
	return version, changed, d.save()
}

// autopStatusError is an AutoP server's answer other than 200 and 304.
type autopStatusError struct {
	url    string
	status int
}

func (e *autopStatusError) Error() string {
	return fmt.Sprintf("autop: GET %s: HTTP %d", e.url, e.status)
}
