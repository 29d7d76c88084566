package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/ledger"
)

// SyncLedger records GitOps syncs in the audit ledger.
type SyncLedger struct{ L *ledger.Ledger }

// Synced writes a sync entry: revision, commit author, objects changed.
func (s SyncLedger) Synced(ctx context.Context, e gitops.SyncEvent) {
	var objs []string
	for _, o := range e.Created {
		objs = append(objs, "created "+o)
	}
	for _, o := range e.Updated {
		objs = append(objs, "configured "+o)
	}
	for _, o := range e.Pruned {
		objs = append(objs, "pruned "+o)
	}
	summary := fmt.Sprintf("%s %s: %d created, %d configured, %d pruned", strings.ToLower(e.Result), e.Revision.Short(), len(e.Created), len(e.Updated), len(e.Pruned))
	if e.Result != "Applied" {
		summary = fmt.Sprintf("%s %s", strings.ToLower(e.Result), e.Revision.Short())
	}
	entry := ledger.Entry{
		Type:     ledger.TypeSync,
		Actor:    "syncer",
		Object:   "GitSource " + e.Source,
		Summary:  summary,
		Revision: e.Revision.String(),
		Author:   e.Revision.Author,
		Objects:  objs,
		Error:    firstLine(e.Error),
	}
	if e.Revision.Hash == "" {
		entry.Revision = ""
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.L.Append(ctx, entry); err != nil {
		slog.Error("writing the audit ledger", "err", err, "entry", entry.Summary)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(s) > len(line) {
		return line + " …"
	}
	return line
}
