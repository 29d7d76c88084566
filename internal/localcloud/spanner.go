package localcloud

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/infraplane/infraplane/internal/localcloud/emulator"
)

// spannerService is the Cloud Spanner emulator process. Spanner has no
// in-process fake, so in ModeFakes there is no Spanner at all.
type spannerService struct {
	proc *emulator.Process
	rest string // base URL of the REST gateway ("http://127.0.0.1:PORT/"), or ""
}

// startSpanner starts the Spanner emulator; nil, nil in ModeFakes, or in
// ModeAuto when the emulator is not installed.
func startSpanner(ctx context.Context, opts Options, log *slog.Logger) (service, error) {
	if opts.Mode == ModeFakes {
		return nil, nil
	}
	spec, err := emulator.LocateSpanner()
	switch {
	case err == nil:
	case opts.Mode == ModeEmulators:
		return nil, fmt.Errorf("local cloud mode %q: %w", opts.Mode, err)
	default:
		log.Info("Spanner emulator not available; running without Spanner", "reason", err)
		return nil, nil
	}
	// gcloud speaks REST only; the SDK ships a gateway that serves REST and
	// runs the gRPC emulator itself. Without it: gRPC only.
	rest := ""
	if gw, restPort, err := spannerGateway(spec); err == nil {
		spec, rest = gw, fmt.Sprintf("http://127.0.0.1:%d/", restPort)
	} else {
		log.Info("Spanner REST gateway not available; gcloud spanner cannot reach the local Spanner", "reason", err)
	}
	p, err := emulator.Start(ctx, spec, emulator.Options{
		Port:    opts.SpannerPort,
		LogFile: logFile(opts.LogDir, "spanner"),
		Logger:  log,
	})
	if err != nil {
		return nil, err
	}
	return &spannerService{proc: p, rest: rest}, nil
}

// spannerGateway turns the emulator's spec into one that runs the SDK's
// gateway_main beside it: gRPC on the spec's port, REST on a free port.
func spannerGateway(spec emulator.Spec) (emulator.Spec, int, error) {
	gw := filepath.Join(filepath.Dir(spec.Path), "gateway_main")
	if _, err := os.Stat(gw); err != nil {
		return spec, 0, err
	}
	restPort, err := emulator.FreePort("127.0.0.1")
	if err != nil {
		return spec, 0, err
	}
	grpcBinary := spec.Path
	grpcReady := spec.Ready
	spec.Path = gw
	spec.Artifact = grpcBinary
	spec.Args = func(host string, port int) []string {
		return []string{"--hostname=" + host, "--grpc_port=" + strconv.Itoa(port), "--http_port=" + strconv.Itoa(restPort), "--grpc_binary=" + grpcBinary}
	}
	spec.Ready = func(ctx context.Context, addr string) error {
		if grpcReady != nil {
			if err := grpcReady(ctx, addr); err != nil {
				return err
			}
		}
		host, _, _ := net.SplitHostPort(addr)
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(restPort)))
		if err != nil {
			return fmt.Errorf("REST gateway: %w", err)
		}
		return conn.Close()
	}
	return spec, restPort, nil
}

func (s *spannerService) describe() string {
	spec := s.proc.Spec()
	d := fmt.Sprintf("spanner: %s at %s, gRPC only, pid %d", spec, s.proc.Addr(), s.proc.PID())
	if s.rest != "" {
		d = fmt.Sprintf("spanner: %s at %s, gRPC; REST (gcloud) at %s, pid %d", spec, s.proc.Addr(), s.rest, s.proc.PID())
	}
	if f := s.proc.LogFile(); f != "" {
		d += ", log " + f
	}
	return d + "; in-memory: lost on restart"
}

func (s *spannerService) setEndpoints(e *Endpoints) {
	e.Spanner = s.proc.Addr()
	e.SpannerREST = s.rest
}

func (s *spannerService) output(n int) string {
	return fmt.Sprintf("--- %s ---\n%s\n", s.proc.Spec(), s.proc.Output(n))
}

func (s *spannerService) stop() error {
	if err := s.proc.Stop(); err != nil {
		return fmt.Errorf("spanner: %w", err)
	}
	return nil
}
