package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/plan"
)

func newPlanCmd() *cobra.Command {
	var k kubeFlags
	var source, output string
	var platform bool
	cmd := &cobra.Command{
		Use:   "plan DIR",
		Short: "Show what merging DIR would change, in Kubernetes and in the cloud",
		Long: `Compute what applying the manifests in DIR (plain YAML or kustomize)
to a namespace would do, without changing anything:

  - Kubernetes: a server-side dry run of every object against the running
    API server (defaults, validation, admission), diffed with the live
    objects; objects the namespace's GitSource applied that DIR no longer has
    are deletions;
  - cloud: for each managed object, what its controller would do — create,
    update (field by field), delete — from read-only cloud calls.
    Deletions and changes that need a replacement are marked destructive.

In the platform namespace (-n infraplane-system, or --platform), DIR may
hold Blueprints: the plan shows the Blueprint objects; what a change does
to their instances is 'infraplane fleet plan DIR'.

Exit code: 0 no changes, 2 changes, 1 error. Use -o markdown for a pull
request comment and -o json for tools.`,
		Example: `  infraplane plan ./infra -n team-a
  infraplane plan ./infra -n team-a -o markdown > plan.md
  infraplane plan ./platform -n infraplane-system`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			kinds, closeClients := controllers.Planners()
			defer closeClients()
			p := &plan.Planner{Client: c, Kinds: kinds}
			res, err := p.Plan(cmd.Context(), plan.Options{Dir: args[0], Namespace: k.namespace, Source: source, RefKinds: controllers.RefKinds, Platform: platform})
			if err != nil {
				return err
			}
			if err := res.Write(cmd.OutOrStdout(), output); err != nil {
				return err
			}
			if len(res.Problems) > 0 {
				return fmt.Errorf("%d problems: nothing would be applied", len(res.Problems))
			}
			if res.HasChanges() {
				return exitCode(2)
			}
			return nil
		},
	}
	k.add(cmd.Flags())
	cmd.Flags().BoolVar(&platform, "platform", false, "the namespace is the platform namespace: Blueprints in DIR are planned too (implied by -n infraplane-system)")
	cmd.Flags().StringVar(&source, "source", "", "GitSource whose inventory tells what would be deleted (default: the only one in the namespace)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output: table, markdown or json")
	return cmd
}

// exitCode is an error that only sets the process exit code.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }
