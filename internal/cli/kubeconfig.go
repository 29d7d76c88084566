package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/infraplane/infraplane/internal/controlplane"
)

func newKubeconfigCmd() *cobra.Command {
	var dataDir, out string
	var groups []string
	cmd := &cobra.Command{
		Use:   "kubeconfig --user NAME [--group GROUP]...",
		Short: "Write a kubeconfig for a named person of the embedded control plane",
		Long: `Write a kubeconfig that authenticates as a named user (and groups) to the
API server of 'infraplane up' in --data-dir, with a client certificate
signed by its client CA. What the user may do is up to RBAC: bind roles to
the user or a group (see docs/gitops.md for what a team needs), and try
things as that person instead of as the all-powerful admin.`,
		Example: `  infraplane kubeconfig --user alice --group oncall   # writes .infraplane/alice.kubeconfig
  kubectl --kubeconfig .infraplane/alice.kubeconfig auth whoami`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			user, _ := cmd.Flags().GetString("user")
			if out == "" {
				out = filepath.Join(dataDir, user+".kubeconfig")
			}
			if err := controlplane.WriteUserKubeconfigFor(dataDir, out, user, groups); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s for user %q (groups %v)\n", out, user, groups)
			return nil
		},
	}
	cmd.Flags().String("user", "", "user name (the certificate's common name)")
	_ = cmd.MarkFlagRequired("user")
	cmd.Flags().StringSliceVar(&groups, "group", nil, "group (the certificate's organization); repeatable")
	cmd.Flags().StringVar(&dataDir, "data-dir", ".infraplane", "data dir of infraplane up")
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write (default DATA_DIR/USER.kubeconfig)")
	return cmd
}
