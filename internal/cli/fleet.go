package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/infraplane/infraplane/internal/blueprint"
)

func newFleetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Blueprints and their instances across the cluster",
	}
	cmd.AddCommand(newFleetStatusCmd())
	return cmd
}

func newFleetStatusCmd() *cobra.Command {
	var k kubeFlags
	var output string
	cmd := &cobra.Command{
		Use:   "status [BLUEPRINT]",
		Short: "How many instances run each revision, the rollout's stage and which instances failed",
		Long: `Shows each Blueprint's latest and stable revision, where the rollout of
the latest revision stands (Canary, Progressing, Halted, Paused, Complete),
and how many instances run each revision. With a Blueprint's name, it also
lists that Blueprint's instances, those not Ready first.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			fleet, err := blueprint.Fleet(cmd.Context(), c, name, name != "")
			if err != nil {
				return err
			}
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(fleet)
			case "", "table":
				blueprint.WriteFleet(cmd.OutOrStdout(), fleet)
				return nil
			}
			return fmt.Errorf("unknown output %q: use table or json", output)
		},
	}
	k.add(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}
