package controlplane

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestStartBeforeRoles: with BeforeRoles, Start hands over an API server
// the admin can write to (namespaces, CRDs) while the default RBAC roles
// may still be in the making; WaitReady then returns only once /readyz
// passes every check, the roles' included.
func TestStartBeforeRoles(t *testing.T) {
	cp := start(t, Options{DataDir: t.TempDir(), BeforeRoles: true})
	c, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	// The admin is system:masters: no role needed.
	if _, err := c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "early"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a namespace before the roles: %v", err)
	}
	// What up does meanwhile: its CRDs (and again, as on a restart).
	checkCRDsReinstalledWithoutWrites(t, cp)
	if err := cp.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	body, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "1").DoRaw(t.Context())
	if err != nil {
		t.Fatalf("/readyz after WaitReady: %v\n%s", err, body)
	}
	if !strings.Contains(string(body), "[+]"+rbacBootstrapCheck+" ok") {
		t.Errorf("/readyz after WaitReady does not pass %s:\n%s", rbacBootstrapCheck, body)
	}
	for _, role := range []string{"view", "edit", "admin", "system:discovery"} {
		if _, err := c.RbacV1().ClusterRoles().Get(t.Context(), role, metav1.GetOptions{}); err != nil {
			t.Errorf("default ClusterRole %s after WaitReady: %v", role, err)
		}
	}
}

// TestFailingChecks: the names of the failed checks of a verbose /readyz.
func TestFailingChecks(t *testing.T) {
	body := "[+]ping ok\n[-]poststarthook/rbac/bootstrap-roles failed: reason withheld\n[+]etcd ok\n[-]autoregister-completion failed: reason withheld\nreadyz check failed"
	got := strings.Join(failingChecks([]byte(body)), ",")
	if want := "poststarthook/rbac/bootstrap-roles,autoregister-completion"; got != want {
		t.Errorf("failingChecks = %s, want %s", got, want)
	}
}
