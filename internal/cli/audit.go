package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/infraplane/infraplane/internal/ledger"
)

func newAuditCmd() *cobra.Command {
	o := ledger.AuditOptions{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show or verify the audit ledger: syncs, cloud writes, direct edits, break-glass",
		Long: `Show the entries of infraplane's audit ledger, newest last, or check that
it has not been tampered with.

The ledger is DATA_DIR/ledger.jsonl, written by infraplane up, or --ledger:
a file, or a PostgreSQL URL (postgres://USER@HOST:PORT/DB?sslmode=require,
the table infraplane_ledger, as written by infraplane controller --ledger
URL; the password can come from PGPASSWORD or ~/.pgpass rather than the
URL). It can be read while infraplane runs. Each entry carries the hash of
the one before it; --verify recomputes the chain and prints the last hash,
or the first broken line (row, in a database) and what is wrong with it
(exit code 1).

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
  PGPASSWORD=… infraplane audit --ledger postgres://auditor@db.example.com/infraplane --verify`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ledger.RunAudit(cmd.OutOrStdout(), o, time.Now())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.DataDir, "data-dir", ".infraplane", "data dir of infraplane up; the ledger is DATA_DIR/"+ledger.FileName)
	fl.StringVar(&o.Path, "ledger", "", "ledger file, or PostgreSQL URL postgres://USER@HOST/DB (overrides --data-dir)")
	fl.StringVar(&o.Object, "object", "", "only entries about this object: KIND/NAME (name prefix), KIND/NAMESPACE/NAME, \"KIND NAMESPACE/NAME\" or KIND")
	fl.StringVar(&o.Type, "type", "", "only entries of this type: sync, cloud-write, direct-edit, breakglass-open, -close, -expire, -revert, -backport, -release")
	fl.StringVar(&o.BreakGlass, "breakglass", "", "only entries of this break-glass (NAME or NAMESPACE/NAME): its opening, every direct edit under it, its end, backport, revert")
	fl.StringVar(&o.Actor, "actor", "", "only entries by this actor (a user, syncer, controller/Topic; ending in / for a prefix)")
	fl.StringVar(&o.Since, "since", "", "only entries from then on: a duration (1h, 7d) or a time (RFC 3339, YYYY-MM-DD)")
	fl.StringVar(&o.Until, "until", "", "only entries before then: a duration (1h, 7d) or a time (RFC 3339, YYYY-MM-DD)")
	fl.StringVarP(&o.Output, "output", "o", "table", "output format: table or json")
	fl.BoolVar(&o.Verify, "verify", false, "check the hash chain instead of listing entries")
	return cmd
}
