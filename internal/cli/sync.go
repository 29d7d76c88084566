package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/status"
)

func newSyncCmd() *cobra.Command {
	var k kubeFlags
	var confirm bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "sync [GITSOURCE | KIND/NAME]",
		Short: "Sync GitSources, or read a managed object's cloud resource, now instead of at the next interval",
		Long: `Ask the GitOps syncer to sync a GitSource (or every GitSource in the
namespace) at once, wait for the sync, and print its result.

--confirm also confirms pruning for the revision the source last attempted:
use it after reading what the mass-deletion guard held (kubectl describe
gitsource NAME, or the PruneHeld condition).

Given a managed object (KIND/NAME: topic/orders, sub/orders-worker), ask
for a pass that reads its cloud resource at once, and print what it found:
drift is reported (and repaired, unless the object only observes). A
resync between intervals may be answered from a listing of the kind taken
up to half an interval earlier; this pass always reads the resource
itself. It sets the annotation infraplane.dev/requested-at, which you may
also set with kubectl; status.lastHandledRequest shows the value once the
pass ran.`,
		Example: `  infraplane sync default
  infraplane sync infra -n team-a --confirm
  infraplane sync subscription/orders-worker`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if len(args) == 1 && strings.Contains(args[0], "/") {
				if confirm {
					return errors.New("--confirm is for GitSources: it confirms a held prune")
				}
				return readNow(ctx, cmd, c, k.namespace, args[0])
			}
			var names []string
			if len(args) == 1 {
				names = args
			} else {
				var list corev1alpha1.GitSourceList
				if err := c.List(ctx, &list, client.InNamespace(k.namespace)); err != nil {
					return err
				}
				for _, gs := range list.Items {
					names = append(names, gs.Name)
				}
				if len(names) == 0 {
					return fmt.Errorf("no GitSource in namespace %q", k.namespace)
				}
			}
			var failed []string
			for _, name := range names {
				ok, err := syncOne(ctx, cmd, c, client.ObjectKey{Namespace: k.namespace, Name: name}, confirm)
				if err != nil {
					return err
				}
				if !ok {
					failed = append(failed, name)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("sync did not apply: %v", failed)
			}
			return nil
		},
	}
	k.add(cmd.Flags())
	cmd.Flags().BoolVar(&confirm, "confirm", false, "confirm pruning held by the mass-deletion guard for the last attempted revision")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the sync")
	return cmd
}

func syncOne(ctx context.Context, cmd *cobra.Command, c client.Client, key client.ObjectKey, confirm bool) (bool, error) {
	stamp, err := gitops.RequestSync(ctx, c, key, confirm)
	if err != nil {
		return false, err
	}
	gs := &corev1alpha1.GitSource{}
	for {
		if err := c.Get(ctx, key, gs); err != nil {
			return false, err
		}
		if gs.Status.LastHandledRequest == stamp {
			break
		}
		select {
		case <-ctx.Done():
			return false, errors.New("timed out waiting for the sync: is infraplane running?")
		case <-time.After(200 * time.Millisecond):
		}
	}
	ready := meta.FindStatusCondition(gs.Status.Conditions, gitops.TypeReady)
	if ready == nil {
		return false, fmt.Errorf("%s: no Ready condition after the sync", key)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s: %s\n", key, ready.Reason, ready.Message)
	return ready.Status == "True", nil
}

// readNow asks for a pass over one managed object that reads its cloud
// resource (the requested-at annotation), waits for it and prints what it
// found. It fails when the object is not Ready or not Synced after it.
func readNow(ctx context.Context, cmd *cobra.Command, c client.Client, namespace, arg string) error {
	_, kind, name, err := resolveKindArg(ctx, c, arg)
	if err != nil {
		return err
	}
	switch {
	case kind.IsGitSource():
		return fmt.Errorf("%s is a GitSource: infraplane sync %s", arg, name)
	case !kind.Managed():
		return fmt.Errorf("%s is a %s, which has no cloud resource of its own: sync one of its children (infraplane trace %s lists them)", arg, kind.Kind, arg)
	}
	key := client.ObjectKey{Namespace: namespace, Name: name}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(kind.GVK())
	obj.SetNamespace(namespace)
	obj.SetName(name)
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, commonv1.RequestedAtAnnotation, stamp)
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return err
	}
	var st commonv1.ManagedStatus
	for {
		if err := c.Get(ctx, key, obj); err != nil {
			return err
		}
		st = commonv1.ManagedStatus{}
		if m, ok := obj.Object["status"].(map[string]any); ok {
			_ = runtime.DefaultUnstructuredConverter.FromUnstructured(m, &st)
		}
		// Ours answered, or a later request (someone else's) that a pass
		// answered after ours was made.
		current := obj.GetAnnotations()[commonv1.RequestedAtAnnotation]
		if st.LastHandledRequest == stamp || (current != stamp && st.LastHandledRequest == current) {
			break
		}
		select {
		case <-ctx.Done():
			return readTimeout(kind.Kind, key, st)
		case <-time.After(200 * time.Millisecond):
		}
	}
	found, ok := describeRead(st.Conditions)
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s\n", kind.Kind, key, found)
	if !ok {
		return fmt.Errorf("%s %s is not Ready and Synced", kind.Kind, key)
	}
	return nil
}

// readTimeout says what is known of an object whose requested read was
// not answered in time: whether any pass ever handled it, and what the
// last one found.
func readTimeout(kind string, key client.ObjectKey, st commonv1.ManagedStatus) error {
	if len(st.Conditions) == 0 {
		return fmt.Errorf("timed out waiting for %s %s to be read: no controller has handled it yet (is infraplane running, and does it run the %s controller?)", kind, key, kind)
	}
	found, _ := describeRead(st.Conditions)
	return fmt.Errorf("timed out waiting for %s %s to be read (is infraplane running? it may be busy: try a longer --timeout); the last pass found: %s", kind, key, found)
}

// describeRead says in one line what a requested pass found: readiness,
// then the sync's failure or the drift (found, repaired or none).
func describeRead(conds []metav1.Condition) (string, bool) {
	get := func(typ string) metav1.Condition {
		if c := meta.FindStatusCondition(conds, typ); c != nil {
			return *c
		}
		return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown}
	}
	ready, synced, drifted := get(commonv1.TypeReady), get(commonv1.TypeSynced), get(commonv1.TypeDrifted)
	var parts []string
	if ready.Status == metav1.ConditionTrue {
		parts = append(parts, "Ready")
	} else {
		parts = append(parts, fmt.Sprintf("not Ready (%s: %s)", ready.Reason, ready.Message))
	}
	switch {
	case synced.Status != metav1.ConditionTrue:
		parts = append(parts, fmt.Sprintf("not synced (%s: %s)", synced.Reason, synced.Message))
	case drifted.Status == metav1.ConditionTrue:
		parts = append(parts, "drifted: "+drifted.Message)
	case drifted.Reason == commonv1.ReasonDriftRepaired:
		parts = append(parts, drifted.Message)
	default:
		parts = append(parts, "in sync with the cloud")
	}
	return strings.Join(parts, "; "), ready.Status == metav1.ConditionTrue && synced.Status == metav1.ConditionTrue
}

// resolveKindArg reads KIND/NAME into a kind of the cluster (the kinds of
// its Blueprints included; all of them are returned too) and a name.
func resolveKindArg(ctx context.Context, c client.Reader, arg string) ([]status.Kind, status.Kind, string, error) {
	typed, name, err := parseKindArg(arg)
	if err != nil {
		return nil, status.Kind{}, "", err
	}
	kinds, err := status.LoadClusterKinds(ctx, c)
	if err != nil {
		return nil, status.Kind{}, "", fmt.Errorf("reading the cluster: %w", err)
	}
	kind, err := status.ResolveKind(kinds, typed)
	return kinds, kind, name, err
}

// parseKindArg splits KIND/NAME, before anything is asked of the cluster.
func parseKindArg(arg string) (typed, name string, err error) {
	typed, name, ok := strings.Cut(arg, "/")
	if !ok || typed == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("%q: give KIND/NAME, e.g. subscription/orders-worker", arg)
	}
	return typed, name, nil
}
