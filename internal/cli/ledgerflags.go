package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/ledger/kubecheckpoint"
)

// ledgerFlags are the controller's flags for the audit ledger's key and
// checkpoints (--ledger itself is the controller's).
type ledgerFlags struct {
	keyFile      string
	checkpointDB string
	checkpointNS string
	interval     time.Duration
}

func (l *ledgerFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&l.keyFile, "ledger-key-file", "", "HMAC key file that signs the ledger's entries (lines \"ID SECRET\", the first signs; typically a mounted Secret, docs/gitops.md); empty: entries are not signed")
	fl.StringVar(&l.checkpointDB, "ledger-checkpoint-database", "", "PostgreSQL URL of the checkpoint table infraplane_ledger_checkpoint, as a role that may only SELECT and INSERT there (default: the --ledger database; - for none)")
	fl.StringVar(&l.checkpointNS, "ledger-checkpoint-namespace", "", "namespace of the checkpoint ConfigMap "+kubecheckpoint.Name+" (default: the pod's, else "+kubecheckpoint.DefaultNamespace+"; - for none)")
	fl.DurationVar(&l.interval, "ledger-checkpoint-interval", ledger.DefaultCheckpointInterval, "how often a grown ledger's last seq and hash are published as a checkpoint")
}

// open opens the ledger at loc with the key and the checkpoint table, and
// returns the ConfigMap checkpoint for the manager to run.
func (l *ledgerFlags) open(ctx context.Context, loc string) (*ledger.Ledger, controllers.LedgerCheckpoint, error) {
	o := ledger.Options{CheckpointDatabase: l.checkpointDB, CheckpointInterval: l.interval}
	if l.keyFile != "" {
		k, err := ledger.LoadKeys(l.keyFile)
		if err != nil {
			return nil, controllers.LedgerCheckpoint{}, fmt.Errorf("--ledger-key-file: %w", err)
		}
		o.Keys = k
	} else {
		slog.Warn("no --ledger-key-file: audit ledger entries are not signed, and whoever can write the ledger can rewrite it undetected but for the checkpoints")
	}
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	audit, err := ledger.OpenWith(octx, loc, o)
	if err != nil {
		return nil, controllers.LedgerCheckpoint{}, err
	}
	lc := controllers.LedgerCheckpoint{Ledger: audit, Namespace: l.checkpointNS, Interval: l.interval}
	switch lc.Namespace {
	case "-":
		lc.Ledger = nil
	case "":
		lc.Namespace = kubecheckpoint.DefaultNamespace
		if ns, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && strings.TrimSpace(string(ns)) != "" {
			lc.Namespace = strings.TrimSpace(string(ns))
		}
	}
	return audit, lc, nil
}
