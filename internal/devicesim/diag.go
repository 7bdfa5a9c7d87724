package devicesim

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Diagnostics (protocol §5.2): the device's own system log, a ping, a
// traceroute and a packet capture, all made up — no network is reachable
// from a simulator: a host name resolves to an address of 203.0.113.0/24
// derived from its hash, and the capture is of synthetic packets.

// Diagnostics modes of Config.Diagnostics, for tests of the cloud.
const (
	DiagnosticsOn     = ""       // the device implements §5.2
	DiagnosticsNone   = "none"   // it does not: it closes the stream at once
	DiagnosticsSilent = "silent" // it answers ok, then says nothing more
	DiagnosticsHuge   = "huge"   // its header line is longer than the cloud reads (4 KiB)
)

// maxLogLines is how many lines the device's log keeps.
const maxLogLines = 10000

// logEntry is one line of the device's system log.
type logEntry struct {
	at   time.Time
	line string
}

// deviceLog is a device's ring of log lines.
type deviceLog struct {
	mu      sync.Mutex
	entries []logEntry
}

// logf adds a line to the device's system log, as syslog writes it.
func (d *Device) logf(tag, format string, args ...any) {
	now := time.Now().UTC()
	line := now.Format("2006-01-02T15:04:05.000Z") + " " + d.hostname() + " " + tag + ": " + fmt.Sprintf(format, args...)
	l := &d.syslog
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= maxLogLines {
		n := copy(l.entries, l.entries[len(l.entries)-maxLogLines+1:])
		l.entries = l.entries[:n]
	}
	l.entries = append(l.entries, logEntry{now, line})
}

func (d *Device) hostname() string {
	m := d.f.cfg.Model
	if m == "" {
		m = "R29C"
	}
	return m + "-" + d.mac[6:]
}

// LogLines returns the log's last n lines (all when n ≤ 0), or those since
// since when it is not zero.
func (d *Device) LogLines(n int, since time.Time) []string {
	l := &d.syslog
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries {
		if since.IsZero() || !e.at.Before(since) {
			out = append(out, e.line)
		}
	}
	if since.IsZero() && n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// diagRequest is the first line of a diagnostic's stream.
type diagRequest struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Lines    int    `json:"lines"`
	Since    string `json:"since"`
	Host     string `json:"host"`
	Count    int    `json:"count"`
	MaxHops  int    `json:"max_hops"`
	Seconds  int    `json:"seconds"`
	Filter   string `json:"filter"`
	MaxBytes int64  `json:"max_bytes"`
}

// serveDiagnose runs one diagnostic on stream c, whose header line was
// line: one JSON header line back, then the result as it is made.
func (d *Device) serveDiagnose(c net.Conn, line []byte) {
	defer c.Close()
	c.SetReadDeadline(time.Time{})
	var r diagRequest
	if err := json.Unmarshal(line, &r); err != nil {
		return
	}
	d.logf("diagd[77]", "diagnostic %s: %s requested", r.ID, r.Kind)
	switch d.f.cfg.Diagnostics {
	case DiagnosticsNone:
		return
	case DiagnosticsHuge:
		writeHeader(c, map[string]any{"ok": true, "name": strings.Repeat("x", 5000)})
		return
	case DiagnosticsSilent:
		writeHeader(c, map[string]any{"ok": true, "content_type": "text/plain", "name": r.Kind + ".txt"})
		io.Copy(io.Discard, c) // until the cloud gives up
		return
	}
	fail := func(msg string) {
		d.logf("diagd[77]", "diagnostic %s failed: %s", r.ID, msg)
		writeHeader(c, map[string]any{"ok": false, "error": msg})
	}
	// The cloud closing (RST) ends a long one early.
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(gone)
	}()
	c.SetWriteDeadline(time.Time{})
	var err error
	switch r.Kind {
	case "log":
		var since time.Time
		if r.Since != "" {
			if since, err = time.Parse(time.RFC3339, r.Since); err != nil {
				fail("bad since: " + r.Since)
				return
			}
		}
		lines := d.LogLines(r.Lines, since)
		if err = writeHeader(c, map[string]any{"ok": true, "content_type": "text/plain; charset=utf-8", "name": "system.log"}); err == nil {
			_, err = io.WriteString(c, strings.Join(lines, "\n")+"\n")
		}
	case "ping":
		if r.Host == "" || r.Count < 1 || r.Count > 20 {
			fail("bad ping parameters")
			return
		}
		if err = writeHeader(c, map[string]any{"ok": true, "content_type": "text/plain; charset=utf-8", "name": "ping.txt"}); err == nil {
			err = pingOutput(c, r.Host, r.Count, gone)
		}
	case "traceroute":
		if r.Host == "" || r.MaxHops < 1 || r.MaxHops > 64 {
			fail("bad traceroute parameters")
			return
		}
		if err = writeHeader(c, map[string]any{"ok": true, "content_type": "text/plain; charset=utf-8", "name": "traceroute.txt"}); err == nil {
			err = tracerouteOutput(c, d.ip, r.Host, r.MaxHops, gone)
		}
	case "pcap":
		f, ferr := parseFilter(r.Filter)
		if ferr != nil {
			fail(ferr.Error())
			return
		}
		if r.Seconds < 1 || r.Seconds > 60 {
			fail("seconds must be 1 to 60")
			return
		}
		if err = writeHeader(c, map[string]any{"ok": true, "content_type": "application/vnd.tcpdump.pcap", "name": "capture.pcap"}); err == nil {
			err = d.capture(c, f, time.Duration(r.Seconds)*time.Second, gone)
		}
	default:
		fail("unknown diagnostic kind " + r.Kind)
		return
	}
	if err != nil {
		d.logf("diagd[77]", "diagnostic %s broke off: %v", r.ID, err)
		return
	}
	d.logf("diagd[77]", "diagnostic %s: %s done", r.ID, r.Kind)
}

func writeHeader(w io.Writer, v any) error {
	b, _ := json.Marshal(v)
	_, err := w.Write(append(b, '\n'))
	return err
}

// resolve is a host's made-up address: an IP literal is itself, a name an
// address of 203.0.113.0/24 from its hash.
func resolve(host string) netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return a
	}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(host)))
	return netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + h.Sum32()%254)})
}

// hostSeed is a number of the host, the same every run.
func hostSeed(host string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(host))
	return h.Sum32()
}

// diagStep is how long the simulator waits between two lines of a ping
// or a traceroute (a real one: about a second).
const diagStep = 100 * time.Millisecond

// wait waits d, false when the cloud went away.
func wait(d time.Duration, gone <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-gone:
		return false
	case <-t.C:
		return true
	}
}

// pingOutput writes a ping as Linux iputils prints it, a reply at a time.
func pingOutput(w io.Writer, host string, count int, gone <-chan struct{}) error {
	addr := resolve(host)
	seed := hostSeed(host)
	base := 8 + float64(seed%40) // ms
	if _, err := fmt.Fprintf(w, "PING %s (%s) 56(84) bytes of data.\n", host, addr); err != nil {
		return err
	}
	var rtts []float64
	for i := 1; i <= count; i++ {
		if i > 1 && !wait(diagStep, gone) {
			return io.ErrClosedPipe
		}
		rtt := base + float64((seed>>uint(i%16))%700)/100
		rtts = append(rtts, rtt)
		if _, err := fmt.Fprintf(w, "64 bytes from %s: icmp_seq=%d ttl=%d time=%.1f ms\n", addr, i, 64-6-int(seed%6), rtt); err != nil {
			return err
		}
	}
	mn, mx, sum := rtts[0], rtts[0], 0.0
	for _, r := range rtts {
		mn, mx, sum = math.Min(mn, r), math.Max(mx, r), sum+r
	}
	avg := sum / float64(len(rtts))
	dev := 0.0
	for _, r := range rtts {
		dev += (r - avg) * (r - avg)
	}
	dev = math.Sqrt(dev / float64(len(rtts)))
	_, err := fmt.Fprintf(w, "\n--- %s ping statistics ---\n%d packets transmitted, %d received, 0%% packet loss, time %dms\nrtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n",
		host, count, count, (count-1)*1000+int(seed%10), mn, avg, mx, dev)
	return err
}

// tracerouteOutput writes a traceroute as Linux traceroute prints it, a
// hop at a time: the LAN's gateway, the provider's routers, the host.
func tracerouteOutput(w io.Writer, lanIP, host string, maxHops int, gone <-chan struct{}) error {
	addr := resolve(host)
	seed := hostSeed(host)
	hops := 5 + int(seed%8)
	if _, err := fmt.Fprintf(w, "traceroute to %s (%s), %d hops max, 60 byte packets\n", host, addr, maxHops); err != nil {
		return err
	}
	gw := "192.168.1.1"
	if a, err := netip.ParseAddr(lanIP); err == nil && a.Is4() {
		b := a.As4()
		gw = netip.AddrFrom4([4]byte{b[0], b[1], b[2], 1}).String()
	}
	for i := 1; i <= min(hops, maxHops); i++ {
		if i > 1 && !wait(diagStep, gone) {
			return io.ErrClosedPipe
		}
		var hop string
		rtt := float64(i) * (2 + float64(seed%5))
		switch {
		case i == 1:
			hop, rtt = gw, 0.4+float64(seed%30)/100
		case i == hops:
			hop = addr.String()
		case (seed>>uint(i))%7 == 0:
			if _, err := fmt.Fprintf(w, "%2d  * * *\n", i); err != nil {
				return err
			}
			continue
		default:
			hop = fmt.Sprintf("100.%d.%d.%d", 64+(seed>>uint(i))%64, (seed>>8+uint32(i)*37)%256, 1+uint32(i)*11%250)
		}
		if _, err := fmt.Fprintf(w, "%2d  %s (%s)  %.3f ms  %.3f ms  %.3f ms\n", i, hop, hop, rtt, rtt*1.03, rtt*0.98); err != nil {
			return err
		}
	}
	return nil
}

// pcapFilter is the subset of tcpdump's filters the simulator honours:
// udp, tcp, icmp, port N, host A.B.C.D, joined by and.
type pcapFilter struct {
	proto string
	ports []uint16
	hosts []netip.Addr
}

func parseFilter(s string) (*pcapFilter, error) {
	f := &pcapFilter{}
	words := strings.Fields(strings.ToLower(s))
	for i := 0; i < len(words); i++ {
		w := words[i]
		if i > 0 {
			if w != "and" || i+1 == len(words) {
				return nil, fmt.Errorf("unsupported filter: %q (this device knows udp, tcp, icmp, port N, host A.B.C.D joined by and)", w)
			}
			i++
			w = words[i]
		}
		switch w {
		case "udp", "tcp", "icmp":
			if f.proto != "" && f.proto != w {
				return nil, fmt.Errorf("unsupported filter: %q and %q never match together", f.proto, w)
			}
			f.proto = w
		case "port", "host":
			if i+1 == len(words) {
				return nil, fmt.Errorf("unsupported filter: %q needs a value", w)
			}
			i++
			v := words[i]
			if w == "port" {
				p, err := strconv.ParseUint(v, 10, 16)
				if err != nil {
					return nil, fmt.Errorf("unsupported filter: port %q", v)
				}
				f.ports = append(f.ports, uint16(p))
			} else {
				a, err := netip.ParseAddr(v)
				if err != nil || !a.Is4() {
					return nil, fmt.Errorf("unsupported filter: host %q (an IPv4 address)", v)
				}
				f.hosts = append(f.hosts, a)
			}
		default:
			return nil, fmt.Errorf("unsupported filter: %q (this device knows udp, tcp, icmp, port N, host A.B.C.D joined by and)", w)
		}
	}
	return f, nil
}

// packet is one synthetic IPv4 packet.
type packet struct {
	proto        byte // 1 ICMP, 6 TCP, 17 UDP
	src, dst     netip.Addr
	sport, dport uint16
	tcpFlags     byte
	seq, ack     uint32
	icmpType     byte
	payload      []byte
}

func (f *pcapFilter) match(p *packet) bool {
	switch f.proto {
	case "udp":
		if p.proto != 17 {
			return false
		}
	case "tcp":
		if p.proto != 6 {
			return false
		}
	case "icmp":
		if p.proto != 1 {
			return false
		}
	}
	for _, port := range f.ports {
		if p.proto == 1 || (p.sport != port && p.dport != port) {
			return false
		}
	}
	for _, h := range f.hosts {
		if p.src != h && p.dst != h {
			return false
		}
	}
	return true
}

// capture writes a libpcap file of synthetic traffic for dur, in real
// time: a DNS lookup, a TLS connection's handshake to 443, SIP keep-alives
// over UDP 5060 with their answers, a call's RTP both ways, and pings.
func (d *Device) capture(w io.Writer, f *pcapFilter, dur time.Duration, gone <-chan struct{}) error {
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535) // snaplen
	binary.LittleEndian.PutUint32(hdr[20:], 1)     // LINKTYPE_ETHERNET
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	me, _ := netip.ParseAddr(d.ip)
	if !me.Is4() {
		me = netip.AddrFrom4([4]byte{192, 168, 1, 100})
	}
	b := me.As4()
	dns := netip.AddrFrom4([4]byte{b[0], b[1], b[2], 1})
	sip := resolve("sip.example.com")
	web := resolve("gatehouse.example.com")
	rtpPeer := resolve("media.example.com")
	start := time.Now()
	tick := 200 * time.Millisecond
	var rtpSeq uint16 = uint16(hostSeed(d.mac))
	for n := 0; ; n++ {
		var ps []*packet
		if n == 0 {
			ps = append(ps,
				&packet{proto: 17, src: me, dst: dns, sport: 40123, dport: 53, payload: dnsQuery(0x1a2b, "sip.example.com", nil)},
				&packet{proto: 17, src: dns, dst: me, sport: 53, dport: 40123, payload: dnsQuery(0x1a2b, "sip.example.com", &sip)},
				&packet{proto: 6, src: me, dst: web, sport: 51544, dport: 443, tcpFlags: 0x02, seq: 1000},
				&packet{proto: 6, src: web, dst: me, sport: 443, dport: 51544, tcpFlags: 0x12, seq: 9000, ack: 1001},
				&packet{proto: 6, src: me, dst: web, sport: 51544, dport: 443, tcpFlags: 0x10, seq: 1001, ack: 9001})
		}
		if n%10 == 0 {
			opt := sipOptions(me, sip, n/10)
			ps = append(ps, &packet{proto: 17, src: me, dst: sip, sport: 5060, dport: 5060, payload: opt},
				&packet{proto: 17, src: sip, dst: me, sport: 5060, dport: 5060, payload: sipOK(opt)})
		}
		if n%5 == 0 {
			ps = append(ps, &packet{proto: 1, src: me, dst: dns, icmpType: 8, seq: uint32(n / 5), payload: make([]byte, 56)},
				&packet{proto: 1, src: dns, dst: me, icmpType: 0, seq: uint32(n / 5), payload: make([]byte, 56)})
		}
		for i := 0; i < 2; i++ {
			rtpSeq++
			ps = append(ps, &packet{proto: 17, src: me, dst: rtpPeer, sport: 10000, dport: 20000, payload: rtp(rtpSeq, uint32(n*1600+i*800))},
				&packet{proto: 17, src: rtpPeer, dst: me, sport: 20000, dport: 10000, payload: rtp(rtpSeq+7, uint32(n*1600+i*800))})
		}
		now := time.Now()
		var out []byte
		for i, p := range ps {
			if f.match(p) {
				out = appendRecord(out, now.Add(time.Duration(i)*time.Microsecond*137), ethFrame(p))
			}
		}
		if len(out) > 0 {
			if _, err := w.Write(out); err != nil {
				return err
			}
		}
		next := start.Add(time.Duration(n+1) * tick)
		if !next.Before(start.Add(dur)) {
			return nil
		}
		if !wait(time.Until(next), gone) {
			return io.ErrClosedPipe
		}
	}
}

func appendRecord(out []byte, at time.Time, data []byte) []byte {
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(at.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(at.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(data)))
	return append(append(out, h[:]...), data...)
}

// macOf is a made-up MAC address of an IPv4 address.
func macOf(a netip.Addr) []byte {
	b := a.As4()
	return []byte{0x02, 0x47, b[0], b[1], b[2], b[3]}
}

// ethFrame is p on Ethernet: IPv4 with its header checksum, and the ICMP or
// TCP checksum (UDP's is 0, allowed over IPv4).
func ethFrame(p *packet) []byte {
	var l4 []byte
	switch p.proto {
	case 17:
		l4 = make([]byte, 8, 8+len(p.payload))
		binary.BigEndian.PutUint16(l4[0:], p.sport)
		binary.BigEndian.PutUint16(l4[2:], p.dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(8+len(p.payload)))
		l4 = append(l4, p.payload...)
	case 6:
		l4 = make([]byte, 20, 20+len(p.payload))
		binary.BigEndian.PutUint16(l4[0:], p.sport)
		binary.BigEndian.PutUint16(l4[2:], p.dport)
		binary.BigEndian.PutUint32(l4[4:], p.seq)
		binary.BigEndian.PutUint32(l4[8:], p.ack)
		l4[12] = 5 << 4
		l4[13] = p.tcpFlags
		binary.BigEndian.PutUint16(l4[14:], 64240)
		l4 = append(l4, p.payload...)
		s, d := p.src.As4(), p.dst.As4()
		pseudo := append(append(append([]byte{}, s[:]...), d[:]...), 0, 6, byte(len(l4)>>8), byte(len(l4)))
		binary.BigEndian.PutUint16(l4[16:], checksum(append(pseudo, l4...)))
	case 1:
		l4 = make([]byte, 8, 8+len(p.payload))
		l4[0] = p.icmpType
		binary.BigEndian.PutUint16(l4[4:], 0x4748) // identifier
		binary.BigEndian.PutUint16(l4[6:], uint16(p.seq))
		l4 = append(l4, p.payload...)
		binary.BigEndian.PutUint16(l4[2:], checksum(l4))
	}
	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(ip[4:], uint16(p.seq^uint32(p.sport)))
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // don't fragment
	ip[8] = 64
	ip[9] = p.proto
	s, d := p.src.As4(), p.dst.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	eth := make([]byte, 14, 14+len(ip)+len(l4))
	copy(eth[0:], macOf(p.dst))
	copy(eth[6:], macOf(p.src))
	binary.BigEndian.PutUint16(eth[12:], 0x0800)
	return append(append(eth, ip...), l4...)
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// dnsQuery is a DNS query of name's A record, or its answer when a is set.
func dnsQuery(id uint16, name string, a *netip.Addr) []byte {
	m := make([]byte, 12)
	binary.BigEndian.PutUint16(m[0:], id)
	flags := uint16(0x0100)
	if a != nil {
		flags = 0x8180
		binary.BigEndian.PutUint16(m[6:], 1)
	}
	binary.BigEndian.PutUint16(m[2:], flags)
	binary.BigEndian.PutUint16(m[4:], 1)
	for _, l := range strings.Split(name, ".") {
		m = append(append(m, byte(len(l))), l...)
	}
	m = append(m, 0, 0, 1, 0, 1)
	if a != nil {
		b := a.As4()
		m = append(m, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4)
		m = append(m, b[:]...)
	}
	return m
}

func sipOptions(me, sip netip.Addr, n int) []byte {
	return []byte(fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:5060;branch=z9hG4bK%06d\r\nMax-Forwards: 70\r\n"+
		"From: <sip:door@%s>;tag=%d\r\nTo: <sip:%s>\r\nCall-ID: ka%d@%s\r\nCSeq: %d OPTIONS\r\nContent-Length: 0\r\n\r\n",
		sip, me, n, sip, 4711+n, sip, n, me, n+1))
}

func sipOK(opt []byte) []byte {
	s := strings.Replace(string(opt), "OPTIONS sip:", "SIP/2.0 200 OK\r\nX-Req: sip:", 1)
	return []byte(s)
}

// rtp is one RTP packet of G.711 µ-law, 20 ms of silence.
func rtp(seq uint16, ts uint32) []byte {
	b := make([]byte, 12+160)
	b[0], b[1] = 0x80, 0
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], 0x5a5a1234)
	for i := 12; i < len(b); i++ {
		b[i] = 0xff
	}
	return b
}
