// Package cli holds infraplane's command-line interface (cobra). Each
// subcommand lives in its own file and calls into internal/ packages; no
// business logic lives here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/infraplane/infraplane/internal/version"
)

func init() {
	// cobra adds pflag's global flag set to every command line; the
	// Kubernetes packages linked in put a --version of their own there
	// (k8s.io/component-base/version/verflag), which made `infraplane
	// --version` print the help. infraplane declares all its flags itself.
	pflag.CommandLine = pflag.NewFlagSet(os.Args[0], pflag.ExitOnError)
}

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
	return run(ctx, args, nil)
}

// run is Run with the commands' standard output sent to out (nil: stdout).
func run(ctx context.Context, args []string, out io.Writer) error {
	root := newRoot()
	root.SetArgs(args)
	if out != nil {
		root.SetOut(out)
	}
	err := root.ExecuteContext(ctx)
	// client-go wraps a refused connection in the request's URL; what
	// helps is where nothing listens and which kubeconfig said to go there.
	var nl *notListeningError
	if errors.As(err, &nl) {
		return nl
	}
	return err
}

type globalFlags struct {
	logLevel  string
	logFormat string

	// Set by setupLogging.
	level         slog.Level
	explicitLevel bool         // --log-level was given
	terminal      slog.Handler // stderr
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
		// --version says what `infraplane version` says.
		Version: version.String(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return setupLogging(g, cmd)
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error (up: of its log file; given, also of the terminal, where up shows only warnings and errors otherwise)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.SetVersionTemplate(versionText())
	root.AddCommand(newUpCmd(g), newControllerCmd(), newValidateCmd(), newPlanCmd(), newSyncCmd(), newStatusCmd(), newTraceCmd(), newAuditCmd(), newBreakGlassCmd(), newFleetCmd(), newImportCmd(), newTenantCmd(), newKubeconfigCmd(), newVersionCmd())
	addCompletions(root)
	return root
}
