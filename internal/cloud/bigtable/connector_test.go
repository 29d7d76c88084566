package bigtable

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// Instance names are a team's input. Naming a new instance in every
// object must not grow the shared controller's connections without end,
// and an instance of another project (which the reconciler refuses before
// any cloud call) must not even cost one.
func TestAdminClientsAreBounded(t *testing.T) {
	clients := NewClients()
	t.Cleanup(clients.Close)
	p := &provider.Config{Name: "team-b", ProjectID: "team-b-project",
		Credentials: corev1alpha1.CredentialsNone, Endpoints: corev1alpha1.Endpoints{Bigtable: "127.0.0.1:1"}}
	kind := TableKind(clients)
	connect := func(instance string) managed.ExternalClient[*bigtablev1.BigtableTable] {
		tbl := &bigtablev1.BigtableTable{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "team-b"}}
		tbl.Spec.InstanceRef = bigtablev1.InstanceRef{External: instance}
		ext, err := kind.Connector.Connect(context.Background(), tbl, managed.Env{Provider: p, ResourceID: "t"})
		if err != nil {
			t.Fatal(err)
		}
		return ext
	}

	connect("projects/team-a-project/instances/prod")
	if n := clients.open(); n != 0 {
		t.Fatalf("%d clients after connecting to another project's instance, want none before the reconciler's project check", n)
	}

	for i := range 3 * maxAdminsPerConfig {
		inst := instance{project: p.ProjectID, id: fmt.Sprintf("i-%d", i)}
		if _, err := clients.admin(context.Background(), p, inst); err != nil {
			t.Fatal(err)
		}
	}
	if n := clients.open(); n != maxAdminsPerConfig {
		t.Errorf("%d clients open after %d instances, want the bound %d", n, 3*maxAdminsPerConfig, maxAdminsPerConfig)
	}
}
