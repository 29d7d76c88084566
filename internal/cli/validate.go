package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/validate"
)

func newValidateCmd() *cobra.Command {
	var opts validate.Options
	var output string
	cmd := &cobra.Command{
		Use:   "validate DIR",
		Short: "Check a directory of manifests offline, as the API server and the GitOps syncer would",
		Long: `validate checks a directory of manifests (plain YAML, or kustomize when it
has a kustomization.yaml) the way applying it through a GitSource would, and
reports every problem with its file, line, object and field. It needs no
cluster and no network: everything comes from the CRDs built into this
binary. Meant for CI on pull requests.

What is checked:
  - the files render: YAML syntax, apiVersion, kind and metadata.name present;
  - kinds: a kind or version infraplane does not serve is an error; built-in
    Kubernetes kinds (ConfigMap, Secret, …) are accepted but not checked
    against a schema; kinds defined by Blueprints (--blueprints, or in DIR)
    are checked against the Blueprint's schema, and a Blueprint that does not
    compile is an error; any other kind is an error unless --allow-unknown-kinds;
  - for infraplane's kinds, what the API server checks on create, with the
    same code (so the same messages as kubectl apply): unknown fields,
    defaults applied first, metadata.name a DNS subdomain, the OpenAPI
    schema (types, ranges, enums, patterns) and the CEL validation rules,
    including those on metadata.name (e.g. the topic id);
  - what the syncer checks before applying: one namespace (--namespace, when
    given, is the only one allowed), only namespaced kinds (and Blueprints,
    with --platform or --namespace infraplane-system), no duplicates,
    and references by name (topicRef: {name: …}) resolve to objects in the
    directory unless --allow-external-refs.

Not checked: rules that compare with the object already in the cluster
(immutable fields), admission webhooks and policies, built-in kinds' schemas,
and anything about the cloud (projects, permissions, quotas).

Exit status: 0 when the directory is valid, 1 when there are problems (or
it cannot be read).`,
		Example: `  infraplane validate deploy/pubsub
  infraplane validate deploy/pubsub --namespace orders -o github
  infraplane validate deploy/queues --blueprints ../platform/blueprints
  infraplane validate platform/blueprints --platform`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(validate.Formats, output) {
				return fmt.Errorf("-o must be one of %s, not %q", strings.Join(validate.Formats, ", "), output)
			}
			opts.RefKinds = slices.Sorted(maps.Keys(controllers.RefKinds))
			res, err := validate.Validate(args[0], opts)
			if err != nil {
				return err
			}
			if err := res.Format(cmd.OutOrStdout(), output); err != nil {
				return err
			}
			if !res.Valid() {
				// The summary is already printed, last: only the exit code.
				return exitCode(1)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Namespace, "namespace", "n", "", "the namespace the directory is applied to: objects naming another one are errors (default: any one namespace)")
	f.StringVarP(&output, "output", "o", "text", "output format: text, json or github (GitHub Actions annotations)")
	f.BoolVar(&opts.AllowUnknownKinds, "allow-unknown-kinds", false, "accept kinds that are neither infraplane's nor built-in (not schema-checked, assumed namespaced)")
	f.StringArrayVar(&opts.Blueprints, "blueprints", nil, "a directory of Blueprint manifests: instances of the kinds they define are checked against their schemas (repeatable; Blueprints in DIR count too)")
	f.BoolVar(&opts.Platform, "platform", false, "the directory is a platform GitSource's (in the platform namespace): Blueprints are accepted (implied by --namespace "+gitops.DefaultPlatformNamespace+")")
	f.BoolVar(&opts.AllowExternalRefs, "allow-external-refs", false, "accept references to objects that are not in the directory (assumed to exist in the namespace)")
	return cmd
}
