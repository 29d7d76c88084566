package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/status"
)

// Shell completion of the names the CLI's own commands take, read from the
// API server with the command line's --kubeconfig and -n (as the command
// itself would read them). A completion that cannot reach the server offers
// nothing rather than file names.

const completionTimeout = 5 * time.Second

// kubeFlagsOf reads --kubeconfig and -n from a parsed command line.
func kubeFlagsOf(cmd *cobra.Command) *kubeFlags {
	k := &kubeFlags{namespace: "default"}
	if f := cmd.Flags().Lookup("kubeconfig"); f != nil {
		k.kubeconfig = f.Value.String()
	}
	if f := cmd.Flags().Lookup("namespace"); f != nil {
		k.namespace = f.Value.String()
	}
	return k
}

func completionContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, completionTimeout)
}

// completeNames completes the first argument with the names of the
// objects newList lists: in -n's namespace when namespaced.
func completeNames(newList func() client.ObjectList, namespaced bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		k := kubeFlagsOf(cmd)
		ns := ""
		if namespaced {
			ns = k.namespace
		}
		return listNames(cmd, k, newList(), ns, "", toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// listNames lists list's objects in namespace ns ("" for all or
// cluster-scoped) whose names start with toComplete after prefix.
func listNames(cmd *cobra.Command, k *kubeFlags, list client.ObjectList, ns, prefix, toComplete string) []cobra.Completion {
	c, err := k.client()
	if err != nil {
		cobra.CompErrorln(err.Error())
		return nil
	}
	ctx, cancel := completionContext(cmd)
	defer cancel()
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, list, opts...); err != nil {
		cobra.CompErrorln(err.Error())
		return nil
	}
	var out []cobra.Completion
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		if name := o.(client.Object).GetName(); strings.HasPrefix(prefix+name, toComplete) {
			out = append(out, prefix+name)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// completeTrace completes trace's KIND/NAME (or KIND NAME): first the
// kinds trace takes, then the objects of the kind in -n's namespace.
func completeTrace(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	switch {
	case len(args) == 1 && !strings.Contains(args[0], "/"):
		return completeKindName(cmd, args[0], toComplete, traceable)
	case len(args) > 0:
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return completeKindName(cmd, "", toComplete, traceable)
}

// completeKindName completes KIND/NAME among the kinds ok accepts, or NAME
// when the kind was given apart (typed).
func completeKindName(cmd *cobra.Command, typed, toComplete string, ok func(status.Kind) bool) ([]cobra.Completion, cobra.ShellCompDirective) {
	none := cobra.ShellCompDirectiveNoFileComp
	prefix := ""
	if typed == "" {
		if t, _, found := strings.Cut(toComplete, "/"); found {
			typed, prefix = t, t+"/"
		}
	}
	k := kubeFlagsOf(cmd)
	c, err := k.client()
	if err != nil {
		cobra.CompErrorln(err.Error())
		return nil, none
	}
	ctx, cancel := completionContext(cmd)
	defer cancel()
	kinds, err := status.LoadClusterKinds(ctx, c)
	if err != nil {
		cobra.CompErrorln(err.Error())
		return nil, none
	}
	if typed == "" {
		var out []cobra.Completion
		for _, kd := range kinds {
			name := strings.ToLower(kd.Kind) + "/"
			if ok(kd) && strings.HasPrefix(name, strings.ToLower(toComplete)) {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out, none | cobra.ShellCompDirectiveNoSpace
	}
	kind, err := status.ResolveKind(kinds, typed)
	if err != nil || !ok(kind) {
		return nil, none
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(kind.GVK().GroupVersion().WithKind(kind.Kind + "List"))
	ns := ""
	if kind.Namespaced {
		ns = k.namespace
	}
	return listNames(cmd, k, list, ns, prefix, toComplete), none
}

// traceable is what trace accepts (see status.ResolveKind).
func traceable(k status.Kind) bool {
	return (k.Managed() && k.Namespaced) || k.IsInstance() || k.IsGitSource()
}

// breakGlassTarget is what a break-glass may name: managed objects and
// Blueprint instances.
func breakGlassTarget(k status.Kind) bool {
	return (k.Managed() && k.Namespaced) || k.IsInstance()
}

// addCompletions registers the completions of every command below root
// that takes a name: by the command's path, so that a new command is
// listed here next to its kind.
func addCompletions(root *cobra.Command) {
	breakGlasses := completeNames(func() client.ObjectList { return &corev1alpha1.BreakGlassList{} }, true)
	gitSources := completeNames(func() client.ObjectList { return &corev1alpha1.GitSourceList{} }, true)
	blueprints := completeNames(func() client.ObjectList { return &corev1alpha1.BlueprintList{} }, false)
	byPath := map[string]cobra.CompletionFunc{
		"infraplane breakglass show":     breakGlasses,
		"infraplane breakglass close":    breakGlasses,
		"infraplane breakglass revert":   breakGlasses,
		"infraplane breakglass backport": breakGlasses,
		"infraplane sync":                gitSources,
		"infraplane fleet status":        blueprints,
		"infraplane fleet rollback":      blueprints,
		"infraplane fleet pause":         blueprints,
		"infraplane fleet resume":        blueprints,
		"infraplane trace":               completeTrace,
	}
	namespaces := func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return listNames(cmd, kubeFlagsOf(cmd), &corev1.NamespaceList{}, "", "", toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	providerConfigs := func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return listNames(cmd, kubeFlagsOf(cmd), &corev1alpha1.ProviderConfigList{}, "", "", toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	flags := map[string]map[string]cobra.CompletionFunc{
		"infraplane breakglass open": {"target": func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return completeKindName(cmd, "", toComplete, breakGlassTarget)
		}},
		"infraplane import":        {"provider-config": providerConfigs},
		"infraplane tenant create": {"provider-config": providerConfigs},
	}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if f, ok := byPath[cmd.CommandPath()]; ok {
			cmd.ValidArgsFunction = f
		}
		for name, f := range flags[cmd.CommandPath()] {
			_ = cmd.RegisterFlagCompletionFunc(name, f)
		}
		if cmd.Flags().Lookup("namespace") != nil && cmd.Name() != "up" {
			_ = cmd.RegisterFlagCompletionFunc("namespace", namespaces)
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
