package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/billing"
	_ "github.com/gatehouse-dev/gatehouse/internal/billing/paypal" // registers the PayPal provider
	_ "github.com/gatehouse-dev/gatehouse/internal/billing/stripe" // registers the Stripe provider
	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/fwimage"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr, "serve [flags]\n\nEvery flag can also be set by the environment variable named in its text.\n\n"+mail.EnvHelp+"\n\nFlags:")
	var d dbFlags
	d.register(fs, getenv)
	addr := fs.String("addr", envOr(getenv, "GATEHOUSE_ADDR", "127.0.0.1:8080"), "listen address HOST:PORT (env GATEHOUSE_ADDR)")
	logLevel := fs.String("log-level", envOr(getenv, "GATEHOUSE_LOG_LEVEL", "info"), "debug, info, warn or error (env GATEHOUSE_LOG_LEVEL)")
	publicURL := fs.String("public-url", getenv("GATEHOUSE_PUBLIC_URL"), "address users reach Gatehouse at, for links in mails and as the passkeys' relying party (a host name, not an IP address) (default http://ADDR) (env GATEHOUSE_PUBLIC_URL)")
	trustProxy := fs.Bool("trust-proxy", envOr(getenv, "GATEHOUSE_TRUST_PROXY", "false") == "true", "take client address and scheme from X-Forwarded-For / -Proto (env GATEHOUSE_TRUST_PROXY)")
	tlsCert := fs.String("tls-cert", getenv("GATEHOUSE_TLS_CERT"), "TLS certificate file; serve HTTPS (env GATEHOUSE_TLS_CERT)")
	tlsKey := fs.String("tls-key", getenv("GATEHOUSE_TLS_KEY"), "TLS key file (env GATEHOUSE_TLS_KEY)")
	idle := fs.Duration("session-idle", envDuration(getenv, "GATEHOUSE_SESSION_IDLE", auth.DefaultConfig.IdleTimeout), "a session unused this long ends (env GATEHOUSE_SESSION_IDLE)")
	orderTimeout := fs.Duration("order-timeout", envDuration(getenv, "GATEHOUSE_ORDER_TIMEOUT", billing.DefaultOrderTimeout), "an unpaid (Processing) order times out after this long (env GATEHOUSE_ORDER_TIMEOUT)")
	resendEvery := fs.Duration("resend-every", envDuration(getenv, "GATEHOUSE_RESEND_EVERY", gateway.DefaultResendEvery), "how often each node sends the queued commands of the devices it holds: the longest a command waits when its kick was lost with the bus (NATS) down (env GATEHOUSE_RESEND_EVERY)")
	natsURL := fs.String("nats", getenv("GATEHOUSE_NATS_URL"), "NATS server URL (nats://host:4222) shared by the nodes of one Gatehouse; empty: this node alone, with an in-process bus (env GATEHOUSE_NATS_URL)")
	remoteURL := fs.String("remote-url", getenv("GATEHOUSE_REMOTE_URL"), "a separate origin for Remote Control (https://remote.example.com, another host name for these servers); empty: Remote Control is served on the portal's host with the device's scripts off (env GATEHOUSE_REMOTE_URL)")
	node := fs.String("node", getenv("GATEHOUSE_NODE"), "this node's name, unique among the nodes sharing a database (default: host name and process id) (env GATEHOUSE_NODE)")
	absolute := fs.Duration("session-max", envDuration(getenv, "GATEHOUSE_SESSION_MAX", auth.DefaultConfig.AbsoluteTimeout), "a session ends this long after login (env GATEHOUSE_SESSION_MAX)")
	fwMaxBytes := fs.Int64("firmware-max-bytes", envInt(getenv, "GATEHOUSE_FIRMWARE_MAX_BYTES", usecase.DefaultFirmwareMaxBytes), "largest firmware image an admin may upload, in bytes (env GATEHOUSE_FIRMWARE_MAX_BYTES)")
	fwDownloads := fs.Int("firmware-downloads", int(envInt(getenv, "GATEHOUSE_FIRMWARE_DOWNLOADS", fwimage.DefaultMaxDownloads)), "firmware downloads this node serves at a time; more devices are told to retry later (503, Retry-After) (env GATEHOUSE_FIRMWARE_DOWNLOADS)")
	webhookAllowPrivate := fs.Bool("webhook-allow-private", envOr(getenv, "GATEHOUSE_WEBHOOK_ALLOW_PRIVATE", "false") == "true", "let webhook endpoints be loopback, private or other internal addresses (env GATEHOUSE_WEBHOOK_ALLOW_PRIVATE; off: refused at registration and at every dial)")
	rolloutEvery := fs.Duration("rollout-every", envDuration(getenv, "GATEHOUSE_ROLLOUT_EVERY", usecase.DefaultRolloutEvery), "how often the firmware rollout scheduler releases devices, checks waves and deadlines (env GATEHOUSE_ROLLOUT_EVERY)")
	notifyEvery := fs.Duration("notify-every", envDuration(getenv, "GATEHOUSE_NOTIFY_EVERY", usecase.DefaultNotifyEvery), "how often the notification scheduler decides and mails the notifications (expiry, devices offline, orders, rollouts); every node runs it, one at a time holds its lease (env GATEHOUSE_NOTIFY_EVERY)")
	diagMaxBytes := fs.Int64("diagnostics-max-bytes", envInt(getenv, "GATEHOUSE_DIAGNOSTICS_MAX_BYTES", usecase.DefaultDiagnosticsMaxBytes), "largest diagnostic result (log, ping, traceroute, packet capture) kept, in bytes, at most 64 MiB (env GATEHOUSE_DIAGNOSTICS_MAX_BYTES)")
	diagRetention, err := diagnosticsRetentionFlag(fs, getenv)
	if err != nil {
		return err
	}
	dashboardEvery := fs.Duration("dashboard-every", envDuration(getenv, "GATEHOUSE_DASHBOARD_EVERY", usecase.DefaultDashboardEvery), "how often the home page dashboard's figures are recomputed; every node runs it, one at a time holds its lease (env GATEHOUSE_DASHBOARD_EVERY)")
	availRetention, err := availabilityRetentionFlag(fs, getenv)
	if err != nil {
		return err
	}
	heartbeat := fs.Duration("heartbeat", envDuration(getenv, "GATEHOUSE_HEARTBEAT", 30*time.Second), "how often a device reports to this node, told to it in welcome (whole seconds, at least 1s); a device silent for 3× this is taken offline and its connection closed, which is how a dead link (no FIN, no RST) is found; every node sharing a database must use the same value (each node takes offline the devices no node heard from for 5× it) (env GATEHOUSE_HEARTBEAT)")
	cpuProfile := fs.String("cpuprofile", getenv("GATEHOUSE_CPUPROFILE"), "write a CPU profile of the server, from start to shutdown, to this file (go tool pprof) (env GATEHOUSE_CPUPROFILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	if err := checkEnvDurations(getenv, "GATEHOUSE_SESSION_IDLE", "GATEHOUSE_SESSION_MAX", "GATEHOUSE_ORDER_TIMEOUT", "GATEHOUSE_ROLLOUT_EVERY", "GATEHOUSE_NOTIFY_EVERY", "GATEHOUSE_DIAGNOSTICS_RETENTION", "GATEHOUSE_RESEND_EVERY", "GATEHOUSE_HEARTBEAT"); err != nil {
		return err
	}
	if err := checkEnvInts(getenv, "GATEHOUSE_FIRMWARE_MAX_BYTES", "GATEHOUSE_FIRMWARE_DOWNLOADS", "GATEHOUSE_DIAGNOSTICS_MAX_BYTES"); err != nil {
		return err
	}
	if *fwMaxBytes <= 0 || *fwDownloads <= 0 {
		return fmt.Errorf("--firmware-max-bytes and --firmware-downloads must be positive")
	}
	if *idle <= 0 || *absolute <= 0 || *orderTimeout <= 0 || *rolloutEvery <= 0 {
		return fmt.Errorf("--session-idle, --session-max, --order-timeout and --rollout-every must be positive")
	}
	if *dashboardEvery <= 0 {
		return fmt.Errorf("--dashboard-every must be positive")
	}
	if *heartbeat < time.Second || *heartbeat > 10*time.Minute || *heartbeat%time.Second != 0 {
		return fmt.Errorf("--heartbeat must be whole seconds, from 1s to 10m")
	}
	if *notifyEvery <= 0 {
		return fmt.Errorf("--notify-every must be positive")
	}
	if *resendEvery < time.Second {
		return fmt.Errorf("--resend-every must be at least 1s")
	}
	if *diagMaxBytes <= 0 || *diagMaxBytes > usecase.MaxDiagnosticsMaxBytes || diagRetention.d <= 0 {
		return fmt.Errorf("--diagnostics-max-bytes must be 1 to %d, --diagnostics-retention positive", usecase.MaxDiagnosticsMaxBytes)
	}
	if err := usecase.CheckAvailabilityRetention(availRetention.d); err != nil {
		return fmt.Errorf("--availability-retention: %w", err)
	}
	if *publicURL != "" {
		if u, err := url.Parse(*publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url %q must be an http(s) URL such as https://gatehouse.example.com", *publicURL)
		}
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	mailer, mailVia, err := mail.FromEnv(getenv, d.data)
	if err != nil {
		return err
	}
	log.Info("mail delivery", "via", mailVia)

	st, err := openStore(ctx, d)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := auth.DefaultConfig
	cfg.IdleTimeout, cfg.AbsoluteTimeout = *idle, *absolute
	au := &auth.Service{Store: st, Config: cfg, Log: log}
	// The janitors run until serve returns; they end (and are waited for)
	// before the store closes, which the earlier defer does.
	bg, stopBg := context.WithCancel(ctx)
	var janitors sync.WaitGroup
	defer func() { stopBg(); janitors.Wait() }()
	janitors.Go(func() { au.RunJanitor(bg, 10*time.Minute) })
	janitors.Go(func() {
		store.RunOrderTimeouts(bg, st, *orderTimeout, time.Minute, func(format string, args ...any) {
			log.Error(fmt.Sprintf(format, args...))
		})
	})
	providers, err := billing.ProvidersFromEnv(getenv)
	if err != nil {
		return err
	}
	for name := range providers {
		log.Info("payment provider configured", "provider", name)
	}
	var b bus.Bus
	if *natsURL != "" {
		nb, err := bus.NewNATSWithLog(*natsURL, log)
		if err != nil {
			return err
		}
		defer nb.Close()
		b = nb
		log.Info("bus: NATS", "url", *natsURL)
	}
	srv, err := server.New(server.Config{Addr: *addr, PublicURL: *publicURL, Providers: providers, TrustProxy: *trustProxy, TLSCert: *tlsCert, TLSKey: *tlsKey,
		Bus: b, Gateway: gateway.Options{Node: *node, ResendEvery: *resendEvery, Heartbeat: *heartbeat}, RemoteURL: *remoteURL,
		DataDir: d.data, Firmware: server.FirmwareOptions{MaxBytes: *fwMaxBytes, MaxDownloads: *fwDownloads}, RolloutEvery: *rolloutEvery, NotifyEvery: *notifyEvery, DashboardEvery: *dashboardEvery,
		Webhooks:     usecase.WebhookOptions{AllowPrivate: *webhookAllowPrivate},
		Diagnostics:  usecase.DiagnosticOptions{MaxBytes: *diagMaxBytes, Retention: diagRetention.d},
		Availability: usecase.AvailabilityOptions{Retention: availRetention.d}}, st, au, mailer, log)
	if err != nil {
		return err
	}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	err = srv.Run(ctx, func(a string) {
		log.Info("gatehouse serving", "url", scheme+"://"+a+"/", "database", st.Dialect())
		fmt.Fprintf(stdout, "Gatehouse is serving at %s://%s/\n", scheme, a)
	})
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: another program listens on %s; choose another address with --addr or GATEHOUSE_ADDR (make run ADDR=127.0.0.1:8081)", err, *addr)
	}
	return err
}

// envDuration reads a duration default from the environment; a value that
// is not a duration is reported by checkEnvDurations rather than ignored.
func envDuration(getenv func(string) string, key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(getenv(key)); err == nil && d > 0 {
		return d
	}
	return def
}

func checkEnvDurations(getenv func(string) string, keys ...string) error {
	for _, k := range keys {
		if v := getenv(k); v != "" {
			if d, err := time.ParseDuration(v); err != nil || d <= 0 {
				return fmt.Errorf("%s=%q is not a positive duration such as 2h or 30m", k, v)
			}
		}
	}
	return nil
}

// envInt reads an integer default from the environment; a value that is
// not a positive integer is reported by checkEnvInts rather than ignored.
func envInt(getenv func(string) string, key string, def int64) int64 {
	if n, err := strconv.ParseInt(getenv(key), 10, 64); err == nil && n > 0 {
		return n
	}
	return def
}

func checkEnvInts(getenv func(string) string, keys ...string) error {
	for _, k := range keys {
		if v := getenv(k); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
				return fmt.Errorf("%s=%q is not a positive whole number", k, v)
			}
		}
	}
	return nil
}

// openStore opens the database and loads the key that seals secrets at rest
// (GATEHOUSE_SECRET_KEY, else <data>/secret.key, made on first use).
func openStore(ctx context.Context, d dbFlags) (*store.Store, error) {
	dsn := d.db
	if dsn == "" {
		dsn = store.DefaultDSN(d.data)
	}
	key, err := store.LoadOrCreateSecretKey(d.secretKey, d.data)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := st.SetSecretKey(key); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}
