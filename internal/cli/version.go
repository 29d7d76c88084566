package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/infraplane/infraplane/internal/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print infraplane's version and the Kubernetes version it embeds",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprint(cmd.OutOrStdout(), versionText())
		},
	}
}

func versionText() string {
	return fmt.Sprintf("infraplane %s\nkubernetes %s (embedded API server)\n%s %s/%s\n",
		version.String(), version.Kubernetes, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
