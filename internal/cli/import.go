package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/provider"
)

func newImportCmd() *cobra.Command {
	var k kubeFlags
	var kinds []string
	var out, project, providerConfig string
	var bigtableInstances []string
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Write manifests for cloud resources no object manages yet (adoption)",
		Long: `Lists the cloud resources of the selected kinds in the project that no
infraplane object manages yet, and writes one manifest per resource: named
after the cloud id (spec.resourceID set when the id is not a valid object
name), spec.adopt: true, the fields as the cloud reports them and defaults
left out. Commit them: applying them adopts the resources without
recreating or changing anything.

The project, endpoints and credentials come from the namespace's
ProviderConfig (or --provider-config); --project lists another project
with them. Resources carrying infraplane's ownership label, or already
managed by an object (status.selfLink), are skipped and listed.`,
		Example: `  infraplane import --kind topic,subscription --namespace team-a --out infra/imported
  infraplane import --project legacy-prod --kind topic > topics.yaml
  infraplane import --kind bigtabletable --bigtable-instance analytics --out infra/bigtable`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			res := provider.NewResolver(c, provider.Options{})
			var p *provider.Config
			if providerConfig != "" {
				p, err = res.ByName(ctx, providerConfig)
			} else {
				p, err = res.ForNamespace(ctx, k.namespace)
			}
			if err != nil {
				return err
			}
			if project != "" {
				p = p.WithProject(project)
			}
			listers, closeListers := controllers.Importers(controllers.ImportOptions{BigtableInstances: bigtableInstances})
			defer closeListers()
			managed, err := managedSelfLinks(ctx, c, listers)
			if err != nil {
				return err
			}
			found, skipped, err := importer.Collect(ctx, importer.Options{
				Listers: listers, Kinds: kinds, Provider: p, Namespace: k.namespace,
				Managed: managed,
			})
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			for _, s := range skipped {
				fmt.Fprintf(stderr, "skipped %s %s: %s\n", s.Kind, s.SelfLink, s.Why)
			}
			if out == "" {
				for _, r := range found {
					b, err := yaml.Marshal(r.Object.Object)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "---\n# %s\n%s", r.SelfLink, b)
				}
				fmt.Fprintf(stderr, "%d to import, %d skipped (project %s)\n", len(found), len(skipped), p.ProjectID)
				return nil
			}
			paths, err := importer.Write(out, found)
			for _, path := range paths {
				fmt.Fprintln(cmd.OutOrStdout(), "wrote", path)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%d written to %s, %d skipped (project %s); commit them, or apply: kubectl apply -f %s\n", len(paths), out, len(skipped), p.ProjectID, out)
			return nil
		},
	}
	k.add(cmd.Flags())
	fl := cmd.Flags()
	fl.StringSliceVar(&kinds, "kind", nil, "kinds to import, e.g. topic,subscription (default: every kind that supports import)")
	fl.StringVar(&out, "out", "", "directory for the manifests, one file per resource (default: print them)")
	fl.StringVar(&project, "project", "", "project to list (default: the ProviderConfig's)")
	fl.StringVar(&providerConfig, "provider-config", "", "ProviderConfig to use (default: the namespace's)")
	fl.StringSliceVar(&bigtableInstances, "bigtable-instance", nil, "Bigtable instances whose tables to import (projects/P/instances/I or an id in the project); tables are not listed without it")
	return cmd
}

// managedSelfLinks reports which cloud resources objects already manage,
// from status.selfLink of every object of the listers' kinds.
// Not knowing is an error: kinds without an ownership label would be
// offered again, and two objects would then claim one resource.
func managedSelfLinks(ctx context.Context, c client.Client, listers []importer.Lister) (func(kind, selfLink string) bool, error) {
	seen := map[string]bool{}
	for _, l := range listers {
		list := &unstructured.UnstructuredList{}
		gvk := l.GVK()
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list); err != nil {
			return nil, fmt.Errorf("listing %s objects, to skip resources already managed: %w", gvk.Kind, err)
		}
		for _, it := range list.Items {
			if sl, _, _ := unstructured.NestedString(it.Object, "status", "selfLink"); sl != "" {
				seen[gvk.Kind+" "+sl] = true
			}
		}
	}
	return func(kind, selfLink string) bool { return seen[kind+" "+selfLink] }, nil
}
