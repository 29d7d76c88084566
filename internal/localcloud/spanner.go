package localcloud

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/infraplane/infraplane/internal/localcloud/emulator"
)

// spannerService is the Cloud Spanner emulator process. Spanner has no
// in-process fake, so in ModeFakes there is no Spanner at all.
type spannerService struct {
	proc *emulator.Process
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
	p, err := emulator.Start(ctx, spec, emulator.Options{
		Port:    opts.SpannerPort,
		LogFile: logFile(opts.LogDir, "spanner"),
		Logger:  log,
	})
	if err != nil {
		return nil, err
	}
	return &spannerService{proc: p}, nil
}

func (s *spannerService) describe() string {
	spec := s.proc.Spec()
	d := fmt.Sprintf("spanner: %s at %s, gRPC only, pid %d", spec, s.proc.Addr(), s.proc.PID())
	if f := s.proc.LogFile(); f != "" {
		d += ", log " + f
	}
	return d + "; in-memory: lost on restart"
}

func (s *spannerService) setEndpoints(e *Endpoints) { e.Spanner = s.proc.Addr() }

func (s *spannerService) output(n int) string {
	return fmt.Sprintf("--- %s ---\n%s\n", s.proc.Spec(), s.proc.Output(n))
}

func (s *spannerService) stop() error {
	if err := s.proc.Stop(); err != nil {
		return fmt.Errorf("spanner: %w", err)
	}
	return nil
}
