package cli

import (
	"context"
	"iter"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/ledger/kubecheckpoint"
	"github.com/infraplane/infraplane/internal/scheme"
)

func newAuditCmd() *cobra.Command {
	o := ledger.AuditOptions{}
	var kubeconfig, checkpointNS string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show or verify the audit ledger: syncs, cloud writes, direct edits, break-glass",
		Long: `Show the entries of infraplane's audit ledger, newest last, or check that
it has not been tampered with.

The ledger is DATA_DIR/ledger.jsonl, written by infraplane up, or --ledger:
a file, or a PostgreSQL URL (postgres://USER@HOST:PORT/DB?sslmode=require,
the table infraplane_ledger, as written by infraplane controller --ledger
URL; the password can come from PGPASSWORD or ~/.pgpass rather than the
URL). It can be read while infraplane runs.

Each entry carries the hash of the one before it, and an HMAC of its hash
with a key the ledger does not hold (DATA_DIR/ledger.key for up, made on
its first start; the controller's --ledger-key-file). The writers also
publish checkpoints, the last entry's seq and hash, where the ledger's
writer cannot silently change them: the ConfigMap
infraplane-ledger-checkpoint (namespace infraplane-system for up, the
controller's own otherwise) and, for a database ledger, the table
infraplane_ledger_checkpoint.

--verify recomputes the chain, checks the MACs with --ledger-key-file
(default: ledger.key next to a ledger file) and compares the ledger with
the checkpoints (the ConfigMap through --kubeconfig, default the
kubeconfig next to a ledger file, i.e. up's, else $KUBECONFIG; the table
in the ledger's database or --ledger-checkpoint-database). It prints what vouches for which entries,
or the first entry that does not match and what is wrong with it (line,
or row in a database), or that entries were cut off the end, and then
exits with code 1. Entries without a MAC (written before the ledger had a
key), and checkpoints that could not be read, are reported, not failed.

Keys: a key file has one key per line, "ID SECRET" (SECRET: base64 of 32
random bytes); the first signs, the others only verify older entries. To
rotate, add a new line on top, keep the old ones, restart the writers. If
a key leaked, rotate, and treat entries signed with it after the leak as
unproven: the checkpoints published before then still pin what came
before. Details, and the Kubernetes Secret and PostgreSQL grants:
docs/gitops.md.

--object takes "Topic team-a/orders" (that object), "Topic/orders" (Topics
whose name starts with orders, in any namespace), "Topic/team-a/" or just
"Topic"; kinds are case-insensitive. --since and --until take a duration
before now (30m, 2h, 7d), an RFC 3339 time or a date (YYYY-MM-DD, UTC).
-o json prints the entries as stored (JSON Lines, for jq).`,
		Example: `  infraplane audit --since 1h
  infraplane audit --object topic/orders --type cloud-write
  infraplane audit --actor controller/ -o json | jq .summary
  infraplane audit --breakglass inc-4211-x7k2p
  infraplane audit --verify
  PGPASSWORD=… infraplane audit --ledger postgres://auditor@db.example.com/infraplane --verify \
    --ledger-key-file ledger.key --kubeconfig prod.kubeconfig --ledger-checkpoint-namespace infraplane`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Verify && checkpointNS != "-" {
				o.Checkpoints = append(o.Checkpoints, configMapSource(kubeconfig, o, checkpointNS))
			}
			return ledger.RunAudit(cmd.OutOrStdout(), o, time.Now())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.DataDir, "data-dir", ".infraplane", "data dir of infraplane up; the ledger is DATA_DIR/"+ledger.FileName)
	fl.StringVar(&o.Path, "ledger", "", "ledger file, or PostgreSQL URL postgres://USER@HOST/DB (overrides --data-dir)")
	fl.StringVar(&o.Object, "object", "", "only entries about this object: KIND/NAME (name prefix), KIND/NAMESPACE/NAME, \"KIND NAMESPACE/NAME\" or KIND")
	fl.StringVar(&o.Type, "type", "", "only entries of this type: sync, cloud-write, direct-edit, breakglass-open, -close, -expire, -revert, -backport, -release, ledger-key")
	fl.StringVar(&o.BreakGlass, "breakglass", "", "only entries of this break-glass (NAME or NAMESPACE/NAME): its opening, every direct edit under it, its end, backport, revert")
	fl.StringVar(&o.Actor, "actor", "", "only entries by this actor (a user, syncer, controller/Topic; ending in / for a prefix)")
	fl.StringVar(&o.Since, "since", "", "only entries from then on: a duration (1h, 7d) or a time (RFC 3339, YYYY-MM-DD)")
	fl.StringVar(&o.Until, "until", "", "only entries before then: a duration (1h, 7d) or a time (RFC 3339, YYYY-MM-DD)")
	fl.StringVarP(&o.Output, "output", "o", "table", "output format: table or json")
	fl.BoolVar(&o.Verify, "verify", false, "check the hash chain, the MACs and the checkpoints instead of listing entries")
	fl.StringVar(&o.KeyFile, "ledger-key-file", "", "key file to check the MACs with (default: "+ledger.KeyFileName+" next to a ledger file, if there is one)")
	fl.StringVar(&o.CheckpointDatabase, "ledger-checkpoint-database", "", "PostgreSQL URL of the checkpoint table (default: the ledger's database; - for none)")
	fl.StringVar(&checkpointNS, "ledger-checkpoint-namespace", kubecheckpoint.DefaultNamespace, "namespace of the checkpoint ConfigMap "+kubecheckpoint.Name+"; - for none")
	fl.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig to read the checkpoint ConfigMap with (default: the kubeconfig next to a ledger file, i.e. up's, else $KUBECONFIG, ~/.kube/config or in-cluster)")
	return cmd
}

// configMapSource is the checkpoint ConfigMap in namespace, read through
// kubeconfig; by default, for a ledger file, the kubeconfig next to it
// (up's, in its data dir), so that a ledger of up is not compared with
// another cluster's checkpoint.
func configMapSource(kubeconfig string, o ledger.AuditOptions, namespace string) ledger.CheckpointSource {
	sink := &kubecheckpoint.ConfigMap{Namespace: namespace}
	dir := o.DataDir
	if o.Path != "" {
		dir = filepath.Dir(o.Path) // up's data dir, if it is up's ledger
	}
	if p := filepath.Join(dir, "kubeconfig"); kubeconfig == "" && !ledger.IsDatabase(o.Path) && fileExists(p) {
		kubeconfig = p
	}
	cfg, err := loadRESTConfig(kubeconfig)
	if err != nil {
		return failedSource{sink, err}
	}
	cfg.Timeout = 15 * time.Second
	if sink.Client, err = client.New(cfg, client.Options{Scheme: scheme.New()}); err != nil {
		return failedSource{sink, err}
	}
	return sink
}

// failedSource is a checkpoint source that could not be set up: reported
// as not checked.
type failedSource struct {
	ledger.CheckpointSource
	err error
}

func (f failedSource) Checkpoints(context.Context) iter.Seq2[ledger.Checkpoint, error] {
	return func(yield func(ledger.Checkpoint, error) bool) { yield(ledger.Checkpoint{}, f.err) }
}
