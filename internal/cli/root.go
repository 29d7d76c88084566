// Package cli holds infraplane's command-line interface (cobra). Each
// subcommand lives in its own file and calls into internal/ packages; no
// business logic lives here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Main runs the CLI and returns the process exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, args); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	return 0
}

// Run runs one command line until it is done or ctx ends (tests run
// `controller` in-process this way).
func Run(ctx context.Context, args []string) error {
	root := newRoot()
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

type globalFlags struct {
	logLevel  string
	logFormat string
}

func newRoot() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "infraplane",
		Short: "Declarative cloud infrastructure on Kubernetes",
		Long: `infraplane manages cloud resources (Pub/Sub topics, subscriptions, …) as
Kubernetes custom resources. Controllers create them, keep them in line
with their spec, report drift and repair it.

Start everything on this machine (embedded Kubernetes API server, local
cloud, controllers) with:

  infraplane up --example quickstart`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return setupLogging(g)
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(newUpCmd(), newControllerCmd(), newValidateCmd(), newPlanCmd(), newSyncCmd(), newStatusCmd(), newTraceCmd(), newAuditCmd(), newBreakGlassCmd(), newFleetCmd(), newImportCmd(), newTenantCmd(), newKubeconfigCmd(), newVersionCmd())
	return root
}

// setupLogging routes our logs, controller-runtime's and klog's through one
// slog handler on stderr.
func setupLogging(g *globalFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch g.logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", g.logFormat)
	}
	slog.SetDefault(slog.New(h))
	ctrl.SetLogger(logr.FromSlogHandler(shutdownNoise{h}))
	klog.SetLogger(logr.FromSlogHandler(h).V(1))
	return nil
}
