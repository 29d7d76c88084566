package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/gitops"
)

func newBreakGlassCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "breakglass",
		Aliases: []string{"bg"},
		Short:   "Change GitOps-managed objects directly in an emergency, with a reason and a time limit",
		Long: `Break-glass: in an incident, change objects git manages without waiting for
review. Open a break-glass naming the objects, the reason and how long; then
edit them directly (kubectl edit/patch): the controllers act at once and the
syncer leaves them alone. Only you may edit them; every edit is recorded in
the audit ledger with the break-glass id.

When the window closes (close, or its expiry) infraplane compares each
object with git. What differs is held, never reverted under your feet, until
you backport it (a commit on a new branch, for a pull request) and it is
merged, or revert it to git.`,
		Example: `  infraplane breakglass open --target subscription/orders-worker --reason "INC-4211 backlog: raise ack deadline" --duration 1h
  kubectl patch subscription orders-worker --type merge -p '{"spec":{"ackDeadlineSeconds":120}}'
  infraplane breakglass close inc-4211-x7k2p
  infraplane breakglass backport inc-4211-x7k2p --repo ~/src/infra
  infraplane breakglass list`,
	}
	cmd.AddCommand(newBGOpenCmd(), newBGListCmd(), newBGShowCmd(), newBGCloseCmd(), newBGRevertCmd(), newBGBackportCmd())
	return cmd
}

func newBGOpenCmd() *cobra.Command {
	var k kubeFlags
	var req breakglass.OpenRequest
	cmd := &cobra.Command{
		Use:   "open",
		Short: "Open a break-glass: you may then edit the targets directly until it expires",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			req.Namespace = k.namespace
			bg, err := breakglass.Open(cmd.Context(), c, req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "break-glass %s is open until %s (%s)\n", bg.Name, bg.Status.ExpiresAt.UTC().Format(time.RFC3339), bg.Spec.Duration.Duration)
			fmt.Fprintf(out, "  opened by %s: %s\n", bg.Status.OpenedBy, bg.Spec.Reason)
			for _, t := range bg.Status.Targets {
				fmt.Fprintf(out, "  you may edit: %s/%s\n", t.Kind, t.Name)
			}
			if bg.Spec.PauseActuation {
				fmt.Fprintln(out, "  actuation is paused: the controllers read the cloud and report drift, but do not write to it")
			}
			fmt.Fprintf(out, "when done: infraplane breakglass close %s -n %s\n", bg.Name, bg.Namespace)
			return nil
		},
	}
	k.add(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVar(&req.Name, "name", "", "name of the break-glass (default: from --incident)")
	fl.StringArrayVar(&req.Targets, "target", nil, "object to change, kind/name (repeatable)")
	fl.StringVar(&req.Selector, "selector", "", "also cover objects with these labels, e.g. team=payments")
	fl.StringVar(&req.Reason, "reason", "", "why review is bypassed (required; recorded)")
	fl.StringVar(&req.Incident, "incident", "", "incident or ticket id")
	fl.DurationVar(&req.Duration, "duration", 0, "how long the window stays open, e.g. 1h (required; capped by the platform)")
	fl.BoolVar(&req.PauseActuation, "pause-actuation", false, "also stop the controllers writing to the cloud for the targets (for changes made in the cloud console)")
	return cmd
}

func newBGListCmd() *cobra.Command {
	var k kubeFlags
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List break-glasses; held objects are listed so a hold is never forgotten",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			var list corev1alpha1.BreakGlassList
			opts := []client.ListOption{}
			if !all {
				opts = append(opts, client.InNamespace(k.namespace))
			}
			if err := c.List(cmd.Context(), &list, opts...); err != nil {
				return err
			}
			printBreakGlassList(cmd.OutOrStdout(), list.Items, time.Now())
			return nil
		},
	}
	k.add(cmd.Flags())
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "every namespace")
	return cmd
}

func printBreakGlassList(out io.Writer, items []corev1alpha1.BreakGlass, now time.Time) {
	if len(items) == 0 {
		fmt.Fprintln(out, "no break-glass")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tPHASE\tOPENED BY\tWINDOW\tTARGETS\tHELD\tREASON")
	var held []string
	for _, bg := range items {
		window := ""
		switch {
		case bg.Status.Phase == corev1alpha1.BreakGlassActive:
			window = "ends in " + breakglass.ExpiresAt(&bg).Sub(now).Round(time.Second).String()
		case bg.Status.EndedAt != nil:
			window = "ended " + now.Sub(bg.Status.EndedAt.Time).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", bg.Namespace, bg.Name, orDash(string(bg.Status.Phase)), orDash(bg.Status.OpenedBy), orDash(window), len(bg.Status.Targets), len(bg.Status.Held), truncate(bg.Spec.Reason, 50))
		for _, h := range bg.Status.Held {
			held = append(held, fmt.Sprintf("%s/%s held by %s", bg.Namespace, h, bg.Name))
		}
	}
	tw.Flush()
	if len(held) > 0 {
		fmt.Fprintf(out, "\nHELD (differ from git; backport or revert):\n")
		for _, h := range held {
			fmt.Fprintf(out, "  %s\n", h)
		}
	}
}

func newBGShowCmd() *cobra.Command {
	var k kubeFlags
	var output string
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a break-glass and its divergence report (git vs object vs cloud)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			bg := &corev1alpha1.BreakGlass{}
			if err := c.Get(cmd.Context(), client.ObjectKey{Namespace: k.namespace, Name: args[0]}, bg); err != nil {
				return breakglass.Explain(err)
			}
			if output == "yaml" {
				b, err := yaml.Marshal(bg)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			printBreakGlass(cmd.OutOrStdout(), bg)
			return nil
		},
	}
	k.add(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or yaml")
	return cmd
}

func printBreakGlass(out io.Writer, bg *corev1alpha1.BreakGlass) {
	fmt.Fprintf(out, "break-glass %s/%s: %s\n", bg.Namespace, bg.Name, orDash(string(bg.Status.Phase)))
	fmt.Fprintf(out, "  reason:     %s\n", bg.Spec.Reason)
	if bg.Spec.Incident != "" {
		fmt.Fprintf(out, "  incident:   %s\n", bg.Spec.Incident)
	}
	fmt.Fprintf(out, "  opened by:  %s", orDash(bg.Status.OpenedBy))
	if bg.Status.OpenedAt != nil {
		fmt.Fprintf(out, " at %s", bg.Status.OpenedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "  expires:    %s\n", breakglass.ExpiresAt(bg).UTC().Format(time.RFC3339))
	if bg.Status.EndedAt != nil {
		fmt.Fprintf(out, "  ended:      %s", bg.Status.EndedAt.UTC().Format(time.RFC3339))
		if bg.Status.ClosedBy != "" {
			fmt.Fprintf(out, " (closed by %s)", bg.Status.ClosedBy)
		}
		fmt.Fprintln(out)
	}
	if bg.Spec.PauseActuation {
		fmt.Fprintln(out, "  actuation:  paused while open")
	}
	fmt.Fprintln(out, "  targets:")
	for _, t := range bg.Status.Targets {
		fmt.Fprintf(out, "    %s/%s: %s", t.Kind, t.Name, t.State)
		if t.Message != "" {
			fmt.Fprintf(out, " (%s)", t.Message)
		}
		fmt.Fprintln(out)
		if len(t.Fields) > 0 {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "      FIELD\tGIT\tOBJECT\tCLOUD")
			for _, f := range t.Fields {
				fmt.Fprintf(tw, "      %s\t%s\t%s\t%s\n", f.Path, orDash(f.Git), orDash(f.Object), orDash(f.Cloud))
			}
			tw.Flush()
		}
	}
	if len(bg.Status.Held) > 0 {
		fmt.Fprintf(out, "  held: %s\n  next: infraplane breakglass backport %s -n %s   (or: infraplane breakglass revert %s -n %s)\n",
			strings.Join(bg.Status.Held, ", "), bg.Name, bg.Namespace, bg.Name, bg.Namespace)
	}
}

func newBGCloseCmd() *cobra.Command {
	return bgActionCmd("close NAME", "Close a break-glass now and print what diverged from git", breakglass.Close)
}

func newBGRevertCmd() *cobra.Command {
	return bgActionCmd("revert NAME", "Put the objects a break-glass holds back to what git says (closing it first if open)", breakglass.Revert)
}

// bgActionCmd is a command that acts on one break-glass and prints it.
func bgActionCmd(use, short string, act func(context.Context, client.Client, client.ObjectKey) (*corev1alpha1.BreakGlass, error)) *cobra.Command {
	var k kubeFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			bg, err := act(cmd.Context(), c, client.ObjectKey{Namespace: k.namespace, Name: args[0]})
			if err != nil {
				return err
			}
			printBreakGlass(cmd.OutOrStdout(), bg)
			return nil
		},
	}
	k.add(cmd.Flags())
	return cmd
}

func newBGBackportCmd() *cobra.Command {
	var k kubeFlags
	var req breakglass.BackportRequest
	var sshKey, knownHosts string
	cmd := &cobra.Command{
		Use:   "backport NAME",
		Short: "Write what a break-glass holds into git: a commit on a new branch, pushed, ready for a pull request",
		Long: `Writes the held objects' current values into the manifests of their
GitSource's repository (formatting and comments kept), commits on a new
branch (default breakglass/NAME) and pushes it. Merge it as usual: once the
syncer applies the merged revision and git matches the objects, the hold
ends by itself.

--repo points at another copy of the repository (a local clone or a URL).
Credentials for https: $INFRAPLANE_GIT_USERNAME and $INFRAPLANE_GIT_PASSWORD
(or a token in the password); for ssh: --ssh-key and --known-hosts.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			creds := &gitops.Credentials{Username: os.Getenv("INFRAPLANE_GIT_USERNAME"), Password: os.Getenv("INFRAPLANE_GIT_PASSWORD")}
			if sshKey != "" {
				if creds.SSHKey, err = os.ReadFile(sshKey); err != nil {
					return err
				}
			}
			if knownHosts != "" {
				if creds.KnownHosts, err = os.ReadFile(knownHosts); err != nil {
					return err
				}
			}
			if creds.Username != "" || creds.Password != "" || creds.SSHKey != nil {
				req.Options.Credentials = creds
			}
			if req.Options.Author == "" {
				req.Options.Author = gitConfig("user.name", "infraplane")
			}
			if req.Options.Email == "" {
				req.Options.Email = gitConfig("user.email", "infraplane@localhost")
			}
			res, err := breakglass.Backport(cmd.Context(), c, client.ObjectKey{Namespace: k.namespace, Name: args[0]}, req)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed branch %s (commit %s) changing %s\nopen a pull request from it; the hold ends when it is merged and synced\n",
				res.Branch, res.Commit[:min(12, len(res.Commit))], strings.Join(res.Files, ", "))
			return nil
		},
	}
	k.add(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVar(&req.Repository, "repo", "", "repository to write to (default: the GitSource's URL)")
	fl.StringVar(&req.Options.Branch, "branch", "", "branch to create (default breakglass/NAME)")
	fl.StringVar(&req.Options.Base, "base", "", "branch to start from (default: the GitSource's branch)")
	fl.StringVar(&req.Options.Author, "author", "", "commit author (default: git config user.name)")
	fl.StringVar(&req.Options.Email, "email", "", "commit author email (default: git config user.email)")
	fl.StringVar(&sshKey, "ssh-key", "", "private key file for ssh URLs")
	fl.StringVar(&knownHosts, "known-hosts", "", "known_hosts file for ssh URLs")
	return cmd
}

// gitConfig reads a git setting for the commit author, with a fallback
// when git or the setting is missing.
func gitConfig(key, fallback string) string {
	out, err := exec.Command("git", "config", "--get", key).Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return fallback
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
