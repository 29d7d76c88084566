package install_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/testenv"
)

// ledgerVolume is where the controller's ledger goes: a small tmpfs of
// its own, so the test can fill its disk. Mounting needs root (CI and
// these machines run as root); elsewhere the ledger goes to a plain
// directory and the full-disk check is skipped, which CI does not allow.
func ledgerVolume(t *testing.T) (dir string, mounted bool) {
	t.Helper()
	dir = t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a tmpfs for the ledger's full-disk check: %v: %s", err, out)
		}
		t.Logf("no tmpfs for the ledger (%v: %s): the full-disk check is skipped", err, out)
		return dir, false
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir, true
}

// fill writes zeros into dir until its file system is full, and returns
// the file that holds them.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	for n := 512; n >= 1; n /= 2 { // the last bytes too
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	return path
}

// checkFullDisk: with the ledger's disk full, no cloud write goes out
// unrecorded: a new topic is not created, and says why; once there is
// room again it is created promptly, and the ledger holds the intent and
// the outcome of every cloud write.
func checkFullDisk(t *testing.T, ns string, cloud *localcloud.Cloud, dir, ledgerPath, keyPath string) {
	ctx := context.Background()
	topics, err := pubsubapi.NewTopicAdminClient(ctx, cloud.PubSubClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer topics.Close()

	filler := fill(t, dir)
	// The ledger file's last page may still have room (a file system
	// allocates whole pages): topics are added one by one until the
	// ledger cannot take the next one's intent. Each is either Ready
	// (recorded) or held, never written unrecorded.
	var tp *pubsubv1.Topic
	for i := 0; tp == nil; i++ {
		if i == 20 {
			t.Fatal("20 topics were recorded in a ledger whose disk is full")
		}
		next := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("while-full-%d", i), Namespace: ns},
			Spec: pubsubv1.TopicSpec{ManagedSpec: abandon()}}
		env.Create(t, next)
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(next), next); err != nil {
				return err
			}
			c := meta.FindStatusCondition(next.Status.Conditions, commonv1.TypeSynced)
			switch {
			case c != nil && c.Reason == commonv1.ReasonLedgerUnavailable:
				t.Logf("with the ledger's disk full, topic %d: %s", i, c.Message)
				tp = next
			case c != nil && c.Status == metav1.ConditionTrue:
			default:
				return fmt.Errorf("%s: Synced %+v", next.Name, c)
			}
			return nil
		})
	}
	name := "projects/" + cloud.Project() + "/topics/" + tp.Name
	if _, err := topics.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name}); status.Code(err) != codes.NotFound {
		t.Fatalf("the topic was written to the cloud while its record could not be: %v", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	env.WaitReady(t, tp)
	t.Logf("created %s after the disk had room again", time.Since(freed).Round(100*time.Millisecond))
	if _, err := topics.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: name}); err != nil {
		t.Fatalf("the topic is not in the cloud: %v", err)
	}

	keys, err := ledger.LoadKeys(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		rep, err := ledger.VerifyWith(ctx, ledgerPath, ledger.VerifyOptions{Keys: keys})
		if err != nil {
			return err
		}
		if !rep.OK() || len(rep.Unfinished) > 0 || rep.Authenticated != rep.Entries {
			return fmt.Errorf("the ledger after the full disk:\n%s", rep)
		}
		return nil
	})
	// Every topic made meanwhile has its intent and its outcome (those
	// sent while the intent fit in the file's last page, and whose
	// outcome did not, recorded late).
	for i := 0; ; i++ {
		obj := fmt.Sprintf("Topic %s/while-full-%d", ns, i)
		writes, err := ledger.Read(ledgerPath, ledger.Filter{Type: ledger.TypeCloudWrite, Object: obj})
		if err != nil {
			t.Fatal(err)
		}
		intents, err := ledger.Read(ledgerPath, ledger.Filter{Type: ledger.TypeCloudWriteIntent, Object: obj})
		if err != nil {
			t.Fatal(err)
		}
		if len(writes) != 1 || len(intents) != 1 || writes[0].Details["intent"] != strconv.FormatUint(intents[0].Seq, 10) || writes[0].Error != "" {
			t.Fatalf("%s in the ledger: intents %+v, outcomes %+v; want one create after its intent", obj, intents, writes)
		}
		if late := writes[0].Details["recordedLate"]; late != "" {
			t.Logf("%s: outcome recorded late (written %s)", obj, writes[0].Details["at"])
		}
		if obj == "Topic "+ns+"/"+tp.Name {
			break
		}
	}
}
