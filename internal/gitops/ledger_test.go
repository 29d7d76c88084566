package gitops_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/testenv"
)

// The ledger records the sync (revision, author, objects), the
// controller's cloud write, and a direct edit by a person (user, fields);
// it verifies, and a tampered copy does not.
func TestLedgerRecordsSyncsCloudWritesAndDirectEdits(t *testing.T) {
	r, gs, ns := setup(t, map[string]*string{"audited.yaml": str(topicYAML("audited", "a"))})
	waitSource(t, gs, appliedRevision(r.hashes[0]))
	ctx := context.Background()

	find := func(f ledger.Filter, match func(ledger.Entry) bool) ledger.Entry {
		t.Helper()
		var found ledger.Entry
		testenv.Eventually(t, 20*time.Second, func() error {
			entries, err := ledger.Read(env.LedgerPath(), f)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if match(e) {
					found = e
					return nil
				}
			}
			return errorf("no matching %s entry among %d", f.Type, len(entries))
		})
		return found
	}

	sync := find(ledger.Filter{Type: ledger.TypeSync, Object: "GitSource " + ns + "/infra"}, func(e ledger.Entry) bool {
		return strings.HasSuffix(e.Revision, r.hashes[0])
	})
	if sync.Author != "Ada Lovelace <ada@example.com>" || !slices.Contains(sync.Objects, "created Topic/"+ns+"/audited") || sync.Actor != "syncer" {
		t.Errorf("sync entry: %+v", sync)
	}

	write := find(ledger.Filter{Type: ledger.TypeCloudWrite, Object: "Topic " + ns + "/audited"}, func(e ledger.Entry) bool {
		return e.Details["operation"] == "create"
	})
	if write.Actor != "controller/Topic" || !strings.Contains(write.Details["resource"], "/topics/audited") {
		t.Errorf("cloud-write entry: %+v", write)
	}

	// A person edits the object directly (the test client is the admin).
	topic := &pubsubv1.Topic{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "audited"}, topic); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Labels = map[string]commonv1.LabelValue{"team": "hotfix"}
	if err := env.Client.Patch(ctx, topic, patch); err != nil {
		t.Fatal(err)
	}
	edit := find(ledger.Filter{Type: ledger.TypeDirectEdit, Object: "Topic " + ns + "/audited"}, func(e ledger.Entry) bool {
		return e.Details["verb"] == "patch"
	})
	if edit.Actor != "infraplane-admin" || !slices.Contains(edit.Fields, "spec.labels.team") {
		t.Errorf("direct-edit entry: %+v", edit)
	}
	// The syncer's and the controllers' own writes are not direct edits.
	edits, _ := ledger.Read(env.LedgerPath(), ledger.Filter{Type: ledger.TypeDirectEdit, Actor: "system:infraplane:controllers"})
	if len(edits) > 0 {
		t.Errorf("controller writes recorded as direct edits: %+v", edits[0])
	}

	rep, err := ledger.Verify(env.LedgerPath())
	if err != nil || rep.Problem != nil {
		t.Fatalf("verify: %v %v", err, rep)
	}

	// Tamper with a copy: change the author of the sync entry.
	data, err := os.ReadFile(env.LedgerPath())
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "ledger.jsonl")
	if err := os.WriteFile(tampered, []byte(strings.Replace(string(data), "Ada Lovelace", "Someone Else", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err = ledger.Verify(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problem == nil {
		t.Fatalf("a tampered ledger verified: %v", rep)
	}
}
