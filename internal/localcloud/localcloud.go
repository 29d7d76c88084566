// Package localcloud runs the "local cloud" that `infraplane up` and the
// tests use instead of GCP: Pub/Sub, Cloud Storage, Spanner and Bigtable.
//
// Each service is either an installed Google emulator, run as a child
// process by package emulator, or an in-process fake (pstest for Pub/Sub).
// Everything is in memory: all resources are lost when the cloud stops.
//
// Package cloudtest wraps Start for tests (t.Cleanup, skip-or-fail rules).
package localcloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/infraplane/infraplane/internal/localcloud/emulator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Mode selects how services are provided.
type Mode string

const (
	// ModeAuto uses the installed gcloud emulators when they are installed
	// and in-process fakes otherwise. An emulator that is installed but
	// fails to start is an error, not a reason to fall back.
	ModeAuto Mode = "auto"
	// ModeFakes uses in-process fakes only (pstest for Pub/Sub): fast, no
	// external programs, but gRPC only (gcloud cannot talk to them) and
	// with less validation than the emulators.
	ModeFakes Mode = "fakes"
	// ModeEmulators uses the installed gcloud emulators and fails when one
	// is missing.
	ModeEmulators Mode = "emulators"
)

// Modes lists the valid modes, e.g. for a flag's help text.
var Modes = []Mode{ModeAuto, ModeFakes, ModeEmulators}

// ParseMode parses a mode name; "" means ModeAuto.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return ModeAuto, nil
	}
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown local cloud mode %q (want one of auto, fakes, emulators)", s)
}

// DefaultProject is the project written to the env file when Options.Project
// is empty. Emulators accept any project id.
const DefaultProject = "local-project"

// ErrNotInstalled is matched by errors.Is when ModeEmulators is asked for and
// an emulator (or java) is missing.
var ErrNotInstalled = emulator.ErrNotInstalled

// Options configure Start.
type Options struct {
	// Mode; "" means ModeAuto.
	Mode Mode
	// PubSubPort is the port of the Pub/Sub service; 0 picks a free port.
	PubSubPort int
	// LogDir, if set, receives one log file per emulator
	// (pubsub-emulator.log). Without it, emulator output is kept only in
	// memory (see Cloud.RecentOutput) and shown when a start fails.
	LogDir string
	// Logger; nil discards.
	Logger *slog.Logger
	// Project is the project id the env file points gcloud at; default
	// DefaultProject.
	Project string
	// Services to start; nil starts all of them (those available in Mode).
	Services []Service
	// StoragePort, SpannerPort and BigtablePort are the services' ports; 0
	// picks free ones.
	StoragePort, SpannerPort, BigtablePort int
}

// Service names a local cloud service.
type Service string

// The services.
const (
	ServicePubSub   Service = "pubsub"
	ServiceStorage  Service = "storage"
	ServiceSpanner  Service = "spanner"
	ServiceBigtable Service = "bigtable"
)

// AllServices lists every service, in start order.
var AllServices = []Service{ServicePubSub, ServiceStorage, ServiceSpanner, ServiceBigtable}

func (o Options) wants(s Service) bool {
	return o.Services == nil || slices.Contains(o.Services, s)
}

// service is one running local service.
type service interface {
	// describe is one line: implementation, address, that it is in memory.
	describe() string
	// setEndpoints fills in this service's fields of e.
	setEndpoints(e *Endpoints)
	// output is the last n lines an emulator process printed ("" for fakes).
	output(n int) string
	stop() error
}

// Endpoints are the addresses of the local services. An empty field means
// the service is not running.
type Endpoints struct {
	// PubSub is host:port of the Pub/Sub gRPC API (what PUBSUB_EMULATOR_HOST
	// wants).
	PubSub string
	// PubSubREST is the base URL of the Pub/Sub REST API with a trailing
	// slash ("http://127.0.0.1:8085/"), or "" when the implementation
	// serves gRPC only (pstest).
	PubSubREST string
	// Storage is the base URL of the Cloud Storage JSON API
	// ("http://127.0.0.1:PORT/storage/v1/").
	Storage string
	// Spanner is host:port of the Spanner emulator (SPANNER_EMULATOR_HOST).
	Spanner string
	// SpannerREST is the base URL of the Spanner emulator's REST gateway
	// with a trailing slash, for gcloud; "" without the gateway.
	SpannerREST string
	// Bigtable is host:port of the Bigtable emulator or fake
	// (BIGTABLE_EMULATOR_HOST).
	Bigtable string
}

// Cloud is a running local cloud. Its methods are safe for concurrent use.
//
// Known differences from GCP, per implementation:
//
//   - pstest (ModeFakes, or ModeAuto without emulators): an ack deadline
//     above 600 s makes CreateSubscription/UpdateSubscription return
//     codes.Unknown, which the Go client's default retry policy retries for
//     60 s before giving up. Use a context deadline or a call-level retryer
//     in code that may send such values. pstest does not validate resource
//     names and serves gRPC only, so gcloud cannot be used against it.
//   - Pub/Sub emulator: label updates are rejected; filter and expiration
//     updates are unsupported; names are validated like GCP (e.g. topic ids
//     need at least 3 characters).
type Cloud struct {
	opts     Options
	log      *slog.Logger
	pubsub   *pubsubService
	services []service // all running services, pubsub included
	mu       sync.Mutex
	stopped  bool
	stopErr  error
}

// Start starts the local cloud. On error, whatever had been started is
// stopped again. ctx bounds the start only, not the cloud's lifetime: call
// Stop.
func Start(ctx context.Context, opts Options) (*Cloud, error) {
	mode, err := ParseMode(string(opts.Mode))
	if err != nil {
		return nil, err
	}
	opts.Mode = mode
	if opts.Project == "" {
		opts.Project = DefaultProject
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cloud{opts: opts, log: opts.Logger.With("component", "localcloud")}
	if opts.wants(ServicePubSub) {
		ps, err := startPubSub(ctx, opts, c.log)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.pubsub = ps
		c.services = append(c.services, ps)
	}
	// Each starter returns nil, nil when its service is not available in
	// this mode (e.g. Spanner has no in-process fake).
	starters := []struct {
		name  Service
		start func(context.Context, Options, *slog.Logger) (service, error)
	}{
		{ServiceStorage, startStorage},
		{ServiceSpanner, startSpanner},
		{ServiceBigtable, startBigtable},
	}
	for _, st := range starters {
		if !opts.wants(st.name) {
			continue
		}
		svc, err := st.start(ctx, opts, c.log)
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("%s: %w", st.name, err)
		}
		if svc != nil {
			c.services = append(c.services, svc)
		}
	}
	c.log.Info("local cloud started", "mode", mode, "services", c.Describe())
	return c, nil
}

// Mode returns the mode the cloud was started with (never "").
func (c *Cloud) Mode() Mode { return c.opts.Mode }

// Project returns the project id written to the env file.
func (c *Cloud) Project() string { return c.opts.Project }

// Endpoints returns the service addresses.
func (c *Cloud) Endpoints() Endpoints {
	var e Endpoints
	for _, s := range c.services {
		s.setEndpoints(&e)
	}
	return e
}

// Describe returns one line per service: implementation, address, and that
// its state is in memory.
func (c *Cloud) Describe() string {
	var lines []string
	for _, s := range c.services {
		lines = append(lines, s.describe())
	}
	return strings.Join(lines, "\n")
}

// PubSubClientOptions returns the options for Google API clients
// (pubsub.NewClient and the apiv1 admin clients) to use the local Pub/Sub:
// its endpoint, no authentication, plaintext gRPC.
func (c *Cloud) PubSubClientOptions() []option.ClientOption {
	return []option.ClientOption{
		option.WithEndpoint(c.Endpoints().PubSub),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// RecentOutput returns the last n lines printed by each emulator child
// process, headed by its name; "" when no emulator runs (fakes print
// nothing).
func (c *Cloud) RecentOutput(n int) string {
	var b strings.Builder
	for _, s := range c.services {
		b.WriteString(s.output(n))
	}
	return b.String()
}

// Stop stops all services and, for emulators, kills their process groups.
// It is safe to call more than once; later calls return the first result.
func (c *Cloud) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return c.stopErr
	}
	c.stopped = true
	var errs []error
	for i := len(c.services) - 1; i >= 0; i-- {
		if err := c.services[i].stop(); err != nil {
			errs = append(errs, err)
		}
	}
	c.stopErr = errors.Join(errs...)
	c.log.Info("local cloud stopped", "err", c.stopErr)
	return c.stopErr
}

func logFile(dir, name string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, name+"-emulator.log")
}
