package localcloud

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"cloud.google.com/go/bigtable/bttest"

	"github.com/infraplane/infraplane/internal/localcloud/emulator"
)

// bigtableService is either the Bigtable emulator process (cbtemulator) or
// Google's in-process fake, bttest. Both serve table admin and data over
// gRPC; neither implements instance or cluster admin.
type bigtableService struct {
	addr string
	proc *emulator.Process // emulator
	fake *bttest.Server    // or fake
}

// startBigtable runs the emulator in ModeAuto (when installed) and
// ModeEmulators, and bttest in ModeFakes or when ModeAuto finds no emulator.
func startBigtable(ctx context.Context, opts Options, log *slog.Logger) (service, error) {
	if opts.Mode != ModeFakes {
		spec, err := emulator.LocateBigtable()
		switch {
		case err == nil:
			p, err := emulator.Start(ctx, spec, emulator.Options{
				Port:    opts.BigtablePort,
				LogFile: logFile(opts.LogDir, "bigtable"),
				Logger:  log,
			})
			if err != nil {
				return nil, err
			}
			return &bigtableService{addr: p.Addr(), proc: p}, nil
		case opts.Mode == ModeEmulators:
			return nil, fmt.Errorf("local cloud mode %q: %w", opts.Mode, err)
		default:
			log.Info("Bigtable emulator not available, using the in-process fake bttest", "reason", err)
		}
	}
	srv, err := bttest.NewServer(net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.BigtablePort)))
	if err != nil {
		return nil, fmt.Errorf("start bttest: %w", err)
	}
	// Serving before Start returns, like the emulators.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := emulator.GRPCReady()(rctx, srv.Addr); err != nil {
		srv.Close()
		return nil, fmt.Errorf("bttest at %s not serving: %w", srv.Addr, err)
	}
	return &bigtableService{addr: srv.Addr, fake: srv}, nil
}

func (s *bigtableService) describe() string {
	if s.proc != nil {
		spec := s.proc.Spec()
		d := fmt.Sprintf("bigtable: %s (%s) at %s, gRPC, table admin only (no instance admin), pid %d", spec, spec.Path, s.addr, s.proc.PID())
		if f := s.proc.LogFile(); f != "" {
			d += ", log " + f
		}
		return d + "; in-memory: lost on restart"
	}
	impl := "bttest"
	if v := moduleVersion("cloud.google.com/go/bigtable"); v != "" {
		impl += " " + v
	}
	return fmt.Sprintf("bigtable: %s (in-process fake, cloud.google.com/go/bigtable/bttest) at %s, gRPC, table admin only; in-memory: lost on restart",
		impl, s.addr)
}

func (s *bigtableService) setEndpoints(e *Endpoints) { e.Bigtable = s.addr }

func (s *bigtableService) output(n int) string {
	if s.proc == nil {
		return ""
	}
	return fmt.Sprintf("--- %s ---\n%s\n", s.proc.Spec(), s.proc.Output(n))
}

func (s *bigtableService) stop() error {
	if s.proc != nil {
		if err := s.proc.Stop(); err != nil {
			return fmt.Errorf("bigtable: %w", err)
		}
		return nil
	}
	if s.fake != nil {
		s.fake.Close()
	}
	return nil
}
