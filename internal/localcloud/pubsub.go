package localcloud

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/infraplane/infraplane/internal/localcloud/emulator"
)

// pubsubService is either a Pub/Sub emulator process behind pubsubFix, or
// a pstest server.
type pubsubService struct {
	addr string
	proc *emulator.Process // emulator
	fix  *pubsubFix        // in front of the emulator
	http *http.Server      // serving fix on addr
	fake *pstest.Server    // or fake
}

func startPubSub(ctx context.Context, opts Options, log *slog.Logger) (*pubsubService, error) {
	if opts.Mode != ModeFakes {
		spec, err := emulator.LocatePubSub()
		switch {
		case err == nil:
			// The emulator on a free port; clients talk to the fix on PubSubPort.
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.PubSubPort)))
			if err != nil {
				return nil, fmt.Errorf("pubsub port: %w", err)
			}
			p, err := emulator.Start(ctx, spec, emulator.Options{
				LogFile: logFile(opts.LogDir, "pubsub"),
				Logger:  log,
			})
			if err != nil {
				l.Close()
				return nil, err
			}
			fix, err := newPubSubFix(p.Addr())
			if err != nil {
				l.Close()
				p.Stop()
				return nil, err
			}
			hs := &http.Server{Handler: fix, ReadHeaderTimeout: 10 * time.Second, Protocols: new(http.Protocols)}
			hs.Protocols.SetHTTP1(true)
			hs.Protocols.SetUnencryptedHTTP2(true) // gRPC without TLS
			go func() {
				if err := hs.Serve(l); err != nil && err != http.ErrServerClosed {
					log.Error("pubsub proxy stopped", "err", err)
				}
			}()
			return &pubsubService{addr: l.Addr().String(), proc: p, fix: fix, http: hs}, nil
		case opts.Mode == ModeEmulators:
			return nil, fmt.Errorf("local cloud mode %q: %w", opts.Mode, err)
		default:
			log.Info("Pub/Sub emulator not available, using the in-process fake pstest", "reason", err)
		}
	}
	srv, err := startPstest(opts.PubSubPort)
	if err != nil {
		return nil, err
	}
	// One RPC, so that the gRPC server is serving when Start returns (and a
	// quick Stop does not make pstest log "the server has been stopped").
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := emulator.GRPCReady()(rctx, srv.Addr); err != nil {
		srv.Close()
		return nil, fmt.Errorf("pstest at %s not serving: %w", srv.Addr, err)
	}
	return &pubsubService{addr: srv.Addr, fake: srv}, nil
}

// startPstest starts pstest on 127.0.0.1:port, turning its panic on a listen
// error into an error.
func startPstest(port int) (srv *pstest.Server, err error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	defer func() {
		if r := recover(); r != nil {
			srv, err = nil, fmt.Errorf("start pstest on %s: %v", addr, r)
		}
	}()
	return pstest.NewServerWithAddress(addr), nil
}

func (s *pubsubService) restURL() string {
	if s.proc != nil { // the Java emulator serves REST and gRPC on one port
		return "http://" + s.addr + "/"
	}
	return ""
}

func (s *pubsubService) describe() string {
	if s.proc != nil {
		spec := s.proc.Spec()
		d := fmt.Sprintf("pubsub: %s (%s, with infraplane's update proxy) at %s, gRPC and REST, pid %d on %s", spec, spec.Artifact, s.addr, s.proc.PID(), s.proc.Addr())
		if f := s.proc.LogFile(); f != "" {
			d += ", log " + f
		}
		return d + "; in-memory: lost on restart"
	}
	impl := "pstest"
	if v := moduleVersion("cloud.google.com/go/pubsub/v2"); v != "" {
		impl += " " + v
	}
	return fmt.Sprintf("pubsub: %s (in-process fake, cloud.google.com/go/pubsub/v2/pstest) at %s, gRPC only; in-memory: lost on restart",
		impl, s.addr)
}

func (s *pubsubService) setEndpoints(e *Endpoints) {
	e.PubSub = s.addr
	e.PubSubREST = s.restURL()
}

func (s *pubsubService) output(n int) string {
	if s.proc == nil {
		return ""
	}
	return fmt.Sprintf("--- %s ---\n%s\n", s.proc.Spec(), s.proc.Output(n))
}

func (s *pubsubService) stop() error {
	var err error
	if s.proc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.fix.close() // ends open streams, which Shutdown would wait for
		s.http.Shutdown(ctx)
		err = s.proc.Stop()
	} else if s.fake != nil {
		err = s.fake.Close()
	}
	if err != nil {
		return fmt.Errorf("pubsub: %w", err)
	}
	return nil
}

// moduleVersion returns the version of a module linked into this binary, or
// "" if the build info does not say.
func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			if m.Replace != nil {
				return m.Replace.Version
			}
			return m.Version
		}
	}
	return ""
}
