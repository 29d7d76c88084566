package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/blueprint"
	"github.com/infraplane/infraplane/internal/gitops"
	"k8s.io/apimachinery/pkg/runtime"
)

func newFleetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Blueprints and their instances across the cluster",
	}
	cmd.AddCommand(newFleetStatusCmd(), newFleetPlanCmd(), newFleetRollbackCmd(), newFleetPauseCmd(true), newFleetPauseCmd(false))
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
			rev, changed, err := blueprint.Rollback(cmd.Context(), c, args[0], to)
			if err != nil {
				return err
			}
			if !changed {
				fmt.Fprintf(cmd.OutOrStdout(), "Blueprint %s already renders as revision %d: nothing to do\n", args[0], rev)
				return nil
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

func newFleetPlanCmd() *cobra.Command {
	var k kubeFlags
	var output string
	cmd := &cobra.Command{
		Use:   "plan DIR",
		Short: "What applying the Blueprints in DIR would change across every instance",
		Long: `For each Blueprint in DIR (plain YAML or kustomize), renders its children
for every live instance of its kind and dry-runs them on the API server, as
the instance controller would apply them, and compares them with the live
children: which fields change, in how many instances, and which instances
would fail on the new revision (and so halt its rollout). It writes nothing.
Meant for the pull request that changes a Blueprint.

Exit code: 0 no changes, 2 changes, 1 error (a Blueprint that does not
compile, or no Blueprint in DIR).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			objs, err := gitops.Render(gitops.RepoRoot(args[0]), args[0])
			if err != nil {
				return err
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			var plans []*blueprint.FleetPlan
			var errs []error
			changes := false
			for _, o := range objs {
				gvk := o.GroupVersionKind()
				if gvk.Group != corev1alpha1.GroupVersion.Group || gvk.Kind != "Blueprint" {
					continue
				}
				bp := &corev1alpha1.Blueprint{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, bp); err != nil {
					errs = append(errs, fmt.Errorf("%s: Blueprint %s: %w", o.Source, o.GetName(), err))
					continue
				}
				p, err := blueprint.PlanFleet(cmd.Context(), c, bp)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: Blueprint %s: %w", o.Source, bp.Name, err))
					continue
				}
				plans = append(plans, p)
				changes = changes || p.HasChanges()
			}
			if len(plans) == 0 && len(errs) == 0 {
				return fmt.Errorf("no Blueprint in %s", args[0])
			}
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(plans); err != nil {
					return err
				}
			case "", "table":
				blueprint.WriteFleetPlan(cmd.OutOrStdout(), plans)
			default:
				return fmt.Errorf("unknown output %q: use table or json", output)
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			if changes {
				return exitCode(2)
			}
			return nil
		},
	}
	k.add(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}
