package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/infraplane/infraplane/internal/tenant"
)

func newTenantCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Onboard teams: a namespace, its people's roles, its repository",
	}
	cmd.AddCommand(newTenantCreateCmd())
	return cmd
}

func newTenantCreateCmd() *cobra.Command {
	var k kubeFlags
	var t tenant.Team
	var output string
	cmd := &cobra.Command{
		Use:   "create NAMESPACE",
		Short: "Onboard a team: namespace, RoleBindings, the syncer's ServiceAccount, GitSource",
		Long: `Onboard a team in one step (a platform admin runs it; running it again
corrects the team's set-up). It writes, with server-side apply:

  - the namespace, using --provider-config for its cloud resources;
  - RoleBindings in that namespace only: --group (editors: write managed
    objects git does not manage, request syncs), --oncall-group (editors
    who may also open break-glasses), --viewer-group (read only);
  - the ServiceAccount infraplane-gitops, bound to the infraplane-gitops
    role there: the identity the team's repository is applied as;
  - with --repo, a GitSource that applies as it, and its push-hook Secret
    NAME-hook (a random token; never rotated by a re-run).

Nothing of it is cluster-wide: the team can read and write in its own
namespace and nowhere else. -o yaml prints the objects instead (for a
platform repository or review); the push-hook Secret is then not included.`,
		Example: `  infraplane tenant create team-a --group team-a-devs --oncall-group team-a-oncall \
    --repo https://git.example.com/team-a/infra.git --git-secret team-a-git --provider-config team-a
  infraplane tenant create team-b --group team-b-devs -o yaml > team-b.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t.Namespace = args[0]
			if t.Repo != "" && !strings.Contains(t.Repo, "://") && !strings.HasPrefix(t.Repo, "git@") {
				abs, err := filepath.Abs(t.Repo) // a local path, for the controller on this machine
				if err != nil {
					return err
				}
				t.Repo = abs
			}
			objs, err := tenant.Objects(t)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch output {
			case "yaml":
				for i, o := range objs {
					b, err := yaml.Marshal(o)
					if err != nil {
						return err
					}
					if i > 0 {
						fmt.Fprintln(out, "---")
					}
					fmt.Fprint(out, string(b))
				}
				return nil
			case "":
			default:
				return fmt.Errorf("-o: only yaml (or nothing, to apply)")
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			if err := tenant.Apply(cmd.Context(), c, objs); err != nil {
				return err
			}
			for _, o := range objs {
				fmt.Fprintf(out, "%s/%s applied\n", o.GetObjectKind().GroupVersionKind().Kind, o.GetName())
			}
			if t.Repo != "" {
				name := t.GitSource
				if name == "" {
					name = t.Namespace
				}
				secret := tenant.HookSecretName(name)
				path, ok := hookPathOf(cmd.Context(), c, t.Namespace, name, secret)
				if !ok {
					path = hookPathShell(t.Namespace, name)
				}
				fmt.Fprintf(out, "\npush hook: POST https://<hooks address>%s (the GitSource's status.webhookPath; only this GitSource's) with the token of Secret %s/%s (GitHub: as the webhook secret; GitLab: as X-Gitlab-Token)\n", path, t.Namespace, secret)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig (default: $KUBECONFIG, else .infraplane/kubeconfig when it exists, else in-cluster)")
	fl.StringSliceVar(&t.EditorGroups, "group", nil, "group of the team's editors (repeatable)")
	fl.StringSliceVar(&t.OncallGroups, "oncall-group", nil, "group of the team's on-call engineers: editors who may open break-glasses (repeatable)")
	fl.StringSliceVar(&t.ViewerGroups, "viewer-group", nil, "group of the team's viewers (repeatable)")
	fl.StringVar(&t.ProviderConfig, "provider-config", "", "ProviderConfig the namespace's objects use (default: the one named default)")
	fl.StringVar(&t.Repo, "repo", "", "the team's repository (URL): makes a GitSource")
	fl.StringVar(&t.Branch, "branch", "main", "branch of --repo")
	fl.StringVar(&t.Path, "path", ".", "directory inside --repo")
	fl.StringVar(&t.GitSource, "gitsource", "", "name of the GitSource (default: the namespace's name)")
	fl.StringVar(&t.CredentialsSecret, "git-secret", "", "Secret in the namespace with the repository's credentials (see docs/gitops.md)")
	fl.BoolVar(&t.Platform, "platform", false, "this is the platform namespace: its repository may apply Blueprints and target any namespace (a ClusterRoleBinding)")
	fl.StringVarP(&output, "output", "o", "", "print the objects (yaml) instead of applying them")
	return cmd
}
