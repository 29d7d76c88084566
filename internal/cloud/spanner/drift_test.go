package spanner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	instance "cloud.google.com/go/spanner/admin/instance/apiv1"
	"cloud.google.com/go/spanner/admin/instance/apiv1/instancepb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	"github.com/infraplane/infraplane/internal/cloud/spanner"
	"github.com/infraplane/infraplane/internal/provider"
	"github.com/infraplane/infraplane/internal/testenv"
)

// renameBehindOurBack changes an instance's display name through the
// proxy, as a person with gcloud would.
func renameBehindOurBack(t *testing.T, name, displayName string) {
	t.Helper()
	c, err := instance.NewInstanceAdminClient(context.Background(), clientOptions(emu.proxy.addr)...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	op, err := c.UpdateInstance(ctxT(t), &instancepb.UpdateInstanceRequest{
		Instance:  &instancepb.Instance{Name: name, DisplayName: displayName},
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Wait(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// A change made directly in the cloud is found on the next resync and
// written back.
func TestDriftRepaired(t *testing.T) {
	s := onProxy(t)
	in := s.instance("drifty", func(in *spannerv1.SpannerInstance) {
		in.Spec.DisplayName = "Drifty instance"
		in.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
	})
	env.Create(t, in)
	env.WaitReady(t, in)

	renameBehindOurBack(t, s.instanceName("drifty"), "Renamed by hand")
	c := env.WaitFor(t, in, commonv1.TypeDrifted, metav1.ConditionFalse, commonv1.ReasonDriftRepaired)
	if !strings.Contains(c.Message, "spec.displayName") {
		t.Errorf("repair record should name the field: %q", c.Message)
	}
	reqs := emu.proxy.instanceUpdates(s.instanceName("drifty"))
	if last := reqs[len(reqs)-1].GetInstance(); last.DisplayName != "Drifty instance" {
		t.Errorf("last update sent display name %q", last.DisplayName)
	}
}

// A database dropped behind infraplane's back (on the real emulator) is
// created again, with its DDL, on the next resync.
func TestDroppedDatabaseRecreated(t *testing.T) {
	s := onEmulator(t)
	env.Create(t, s.instance("rec-inst"))
	db := s.database("recdb", "rec-inst", func(db *spannerv1.SpannerDatabase) {
		db.Spec.DDL = []string{createSingers}
		db.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
	})
	env.Create(t, db)
	env.WaitReady(t, db)
	creates := provider.CloudCalls(spanner.Service, "CreateDatabase")
	if err := emu.databases.DropDatabase(ctxT(t), &databasepb.DropDatabaseRequest{Database: s.databaseName("rec-inst", "recdb")}); err != nil {
		t.Fatal(err)
	}
	env.WaitFor(t, db, commonv1.TypeReady, metav1.ConditionTrue, "")
	testWaitCloud(t, func() bool { return provider.CloudCalls(spanner.Service, "CreateDatabase") > creates })
	if got := s.ddl(t, "rec-inst", "recdb"); !mentions(got, "Singers") {
		t.Errorf("re-created database DDL: %q", got)
	}
}

// ObserveOnly reports drift with desired and actual values and never
// writes to the cloud.
func TestObserveOnlyReportsDrift(t *testing.T) {
	s := onProxy(t)
	in := s.instance("watched", func(in *spannerv1.SpannerInstance) {
		in.Spec.DisplayName = "Watched instance"
		in.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second}
	})
	env.Create(t, in)
	env.WaitReady(t, in)
	testenv.Update(t, env, in, func(in *spannerv1.SpannerInstance) { in.Spec.ManagementPolicy = commonv1.ManagementObserveOnly })
	env.WaitSynced(t, in)

	writes := provider.CloudCalls(spanner.Service, "UpdateInstance")
	renameBehindOurBack(t, s.instanceName("watched"), "Changed by hand")
	c := env.WaitFor(t, in, commonv1.TypeDrifted, metav1.ConditionTrue, commonv1.ReasonDriftDetected)
	if !strings.Contains(c.Message, "ObserveOnly") {
		t.Errorf("drift message should say why it is not repaired: %q", c.Message)
	}
	if len(in.Status.Drift) != 1 || in.Status.Drift[0].Field != "spec.displayName" ||
		in.Status.Drift[0].Desired != "Watched instance" || in.Status.Drift[0].Actual != "Changed by hand" {
		t.Errorf("status.drift = %+v", in.Status.Drift)
	}
	time.Sleep(2 * time.Second) // two more resyncs
	if n := provider.CloudCalls(spanner.Service, "UpdateInstance") - writes; n != 0 {
		t.Errorf("ObserveOnly made %v UpdateInstance calls", n)
	}
	if n := len(emu.proxy.instanceUpdates(s.instanceName("watched"))); n != 1 {
		t.Errorf("proxy saw %d updates, want only the one made by hand", n)
	}
}

// testWaitCloud waits up to 20 s for cond.
func testWaitCloud(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
	}
}
