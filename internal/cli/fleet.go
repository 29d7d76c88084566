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
	cmd.AddCommand(newFleetStatusCmd(), newFleetRollbackCmd(), newFleetPauseCmd(true), newFleetPauseCmd(false))
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

func newFleetRollbackCmd() *cobra.Command {
	var k kubeFlags
	var to int64
	cmd := &cobra.Command{
		Use:   "rollback BLUEPRINT",
		Short: "Set a Blueprint back to an earlier revision (its stable one by default)",
		Long: `Sets the Blueprint's spec to that of an earlier revision, keeping its rollout
settings. This makes a new revision that renders as the earlier one: the
instances still on that revision move to it at once; those that already moved
(for example a failed canary) roll back in stages. If the Blueprint is kept in
a repository, change it there too, or the next apply brings the change back.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			rev, err := blueprint.Rollback(cmd.Context(), c, args[0], to)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Blueprint %s set back to revision %d; follow it with: infraplane fleet status %s\n", args[0], rev, args[0])
			return nil
		},
	}
	k.add(cmd.Flags())
	cmd.Flags().Int64Var(&to, "to", 0, "the revision to go back to (default: the stable revision)")
	return cmd
}

func newFleetPauseCmd(pause bool) *cobra.Command {
	var k kubeFlags
	use, short, done := "pause BLUEPRINT", "Stop moving instances to the latest revision (spec.rollout.paused)", "paused"
	if !pause {
		use, short, done = "resume BLUEPRINT", "Resume a paused rollout", "resumed"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			if err := blueprint.SetPaused(cmd.Context(), c, args[0], pause); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout of Blueprint %s %s\n", args[0], done)
			return nil
		},
	}
	k.add(cmd.Flags())
	return cmd
}
