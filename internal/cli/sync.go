package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
)

func newSyncCmd() *cobra.Command {
	var k kubeFlags
	var confirm bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "sync [GITSOURCE]",
		Short: "Sync GitSources now instead of at their next interval",
		Long: `Ask the GitOps syncer to sync a GitSource (or every GitSource in the
namespace) at once, wait for the sync, and print its result.

--confirm also confirms pruning for the revision the source last attempted:
use it after reading what the mass-deletion guard held (kubectl describe
gitsource NAME, or the PruneHeld condition).`,
		Example: `  infraplane sync default
  infraplane sync infra -n team-a --confirm`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
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
