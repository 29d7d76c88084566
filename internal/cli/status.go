package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/status"
)

// statusTimeout bounds the reads of status and trace: an API server that
// does not answer is an error, not a hang.
const statusTimeout = 30 * time.Second

func newStatusCmd() *cobra.Command {
	var k kubeFlags
	var all, failOnNotReady bool
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show GitSources and managed objects at a glance, and why anything is not Ready",
		Long: `Show the state of a namespace at a glance.

For each GitSource in the namespace (or applying to it): whether it is
Ready, the revision it applied (short hash, commit author, how long ago),
what the mass-deletion guard holds from pruning, and the objects it applied
as a tree (an object under the object it references). Then the managed
objects no GitSource applied ("not from git").

An instance of a kind a Blueprint defines (a Queue) shows like a managed
object, with READY (and PAUSED under a break-glass), and its children (the
Topics and Subscription it made) under it, wherever the instance is: they
are not in git themselves, so they are not "not from git". A child the
instance lists but has not made yet shows as "not created", with what it
waits for; a child of another kind (a ConfigMap) shows what the instance
says of it.

Each object shows its READY, SYNCED, DRIFTED and PAUSED conditions. An
object that is not Ready or not Synced shows its deepest cause: references
are followed, so a Subscription waiting for a Topic that fails shows the
Topic's error, with the chain (Subscription/worker → Topic/orders:
CloudError: …) and how long it has been so. A Blueprint instance that waits
for a child follows the child the same way (Queue/orders →
Subscription/orders → Topic/orders: …). Drifted objects list their drifted
fields. A summary line ends the report: it counts managed objects and
Blueprint instances (children of other kinds are not counted).

Every managed kind the binary knows (from its embedded CRDs) is listed,
and every kind the cluster's Blueprints define. The exit code is 0
whatever the state (1 only when the API server cannot be read);
--fail-on-not-ready exits 1 when any GitSource, managed object or
Blueprint instance is not Ready, for scripts and CI. -o json prints the same report with full
messages and timestamps. Messages wrap at $COLUMNS (default 100).`,
		Example: `  infraplane status
  infraplane status -n team-a
  infraplane status -A -o json | jq '.sources[].ready'
  infraplane status -n team-a --fail-on-not-ready   # in CI, after a deploy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			defer startProfile(statusCPUProfileEnv, "")()
			cfg, err := k.config()
			if err != nil {
				return err
			}
			c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
			if err != nil {
				return err
			}
			// One list per kind, decoded once (at 20,000 objects the
			// client's decoding was most of the time).
			raw, err := status.RawGetter(cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), statusTimeout)
			defer cancel()
			kinds, err := status.LoadClusterKinds(ctx, c)
			if err != nil {
				return fmt.Errorf("reading the cluster: %w", err)
			}
			scope := status.Scope{Namespace: k.namespace, AllNamespaces: all, Raw: raw}
			snap, err := status.Collect(ctx, c, kinds, scope)
			if err != nil {
				return fmt.Errorf("reading the cluster: %w", err)
			}
			r := status.BuildSnapshot(*snap)
			if !all {
				r.Namespace = k.namespace
			}
			if err := r.Write(cmd.OutOrStdout(), status.WriteOptions{Format: output, Width: terminalWidth()}); err != nil {
				return err
			}
			if failOnNotReady && !r.AllReady() {
				return exitCode(1)
			}
			return nil
		},
	}
	k.add(cmd.Flags())
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "every namespace (ignores --namespace)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output: table or json")
	cmd.Flags().BoolVar(&failOnNotReady, "fail-on-not-ready", false, "exit 1 when any GitSource, managed object or Blueprint instance is not Ready")
	return cmd
}

func newTraceCmd() *cobra.Command {
	var k kubeFlags
	var output string
	cmd := &cobra.Command{
		Use:   "trace KIND/NAME",
		Short: "Show one managed object, Blueprint instance or GitSource in depth: conditions, cause, git origin, events",
		Long: `Show one object in depth.

For a managed object (Topic, Subscription, …): its four conditions with
reason, message and age; generation against syncedGeneration (is a spec
change pending?); the cloud resource (selfLink, resource id) and the last
sync; its references and whether each target is Ready; the chain of
references to the deepest cause when it is blocked; its drifted fields;
the GitSource that applied it (label infraplane.dev/source) with that
source's applied revision and the sync that last changed the object; and
its recent events (events.k8s.io/v1), oldest first.

For a Blueprint instance (a Queue): its Blueprint and the revision it
renders, its Ready condition, its children with what it says of each and
each child's own Ready state, the chain to the deepest cause, its GitSource
and events. For a child of an instance: the instance it belongs to (and
the instance's GitSource, since the child is not in git itself).

For a GitSource: its conditions, the last syncs (CHANGES counts objects
+created ~configured =unchanged -pruned), what the mass-deletion guard
holds, and its inventory with each object's state.

KIND is case-insensitive: a kind, its plural or a short name (sub, gs), or
a kind qualified by its group (topic.pubsub.infraplane.dev); the kinds of
the cluster's Blueprints (queue) too. For every write to the object over
time, see infraplane audit --object KIND/NAME.`,
		Example: `  infraplane trace subscription/orders-worker
  infraplane trace sub/orders-worker -n team-a
  infraplane trace topic orders -o json
  infraplane trace gs/default
  infraplane trace queue/orders -n team-a`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			arg := args[0]
			if len(args) == 2 {
				if strings.Contains(arg, "/") {
					return fmt.Errorf("give KIND/NAME or KIND NAME, not %q %q", args[0], args[1])
				}
				arg += "/" + args[1]
			}
			if _, _, err := parseKindArg(arg); err != nil {
				return err
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), statusTimeout)
			defer cancel()
			kinds, kind, name, err := resolveKindArg(ctx, c, arg)
			if err != nil {
				return err
			}
			snap, target, err := status.CollectTrace(ctx, c, kinds, kind, k.namespace, name)
			if err != nil {
				return err
			}
			tr, err := status.Trace(*snap, target)
			if err != nil {
				return err
			}
			return tr.Write(cmd.OutOrStdout(), status.WriteOptions{Format: output, Width: terminalWidth()})
		},
	}
	k.add(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output: table or json")
	return cmd
}

func checkOutput(o string) error {
	switch o {
	case "table", "json":
		return nil
	}
	return fmt.Errorf("-o %q: use table or json", o)
}

// terminalWidth is $COLUMNS when set (shells set it for interactive use,
// and it can be set for a pipe), else the default.
func terminalWidth() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 40 {
		return n
	}
	return status.DefaultWidth
}
