package install_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/infraplane/infraplane/internal/testenv"
)

// checkMetrics: the Deployment's metrics endpoint answers only over HTTPS
// and only callers the API server authorizes for GET /metrics (the
// ClusterRole infraplane-metrics-reader, bound to Prometheus). The
// metrics name every team's namespaces, GitSources and break-glass
// activity: a pod of one team that reaches the port, even one whose
// ServiceAccount edits its own namespace, reads nothing.
func checkMetrics(t *testing.T, port int, teamNS string) {
	t.Helper()
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/metrics"
	prometheus := saToken(t, "monitoring", "prometheus", func(cs kubernetes.Interface) error {
		_, err := cs.RbacV1().ClusterRoleBindings().Create(context.Background(), &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "infraplane-metrics-prometheus"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "infraplane-metrics-reader"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "monitoring", Name: "prometheus"}},
		}, metav1.CreateOptions{})
		return err
	})
	teamApp := saToken(t, teamNS, "app", func(cs kubernetes.Interface) error {
		_, err := cs.RbacV1().RoleBindings(teamNS).Create(context.Background(), &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "app-edits"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "infraplane-editor"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: teamNS, Name: "app"}},
		}, metav1.CreateOptions{})
		return err
	})

	for _, c := range []struct {
		who, token string
		status     int
		body       string
	}{
		{"no token", "", http.StatusUnauthorized, "Unauthorized"},
		{"a token the API server does not know", "not-a-token", http.StatusUnauthorized, "Unauthorized"},
		{"a team's editor ServiceAccount", teamApp, http.StatusForbidden, "Forbidden: system:serviceaccount:" + teamNS + ":app may not get /metrics"},
	} {
		status, body := getMetrics(t, url, c.token)
		if status != c.status || !strings.Contains(body, c.body) || strings.Contains(body, "infraplane_") {
			t.Errorf("/metrics with %s: %d %q, want %d %q and no metrics", c.who, status, firstLine(body), c.status, c.body)
		}
	}

	// Plain HTTP is not served: the TLS listener answers 400.
	if resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "infraplane_") {
			t.Errorf("/metrics over plain HTTP: %s", resp.Status)
		}
	}

	// Prometheus's ServiceAccount reads them (the authorizer may take a
	// moment to see the new binding).
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		status, body := getMetrics(t, url, prometheus)
		if status != http.StatusOK || !strings.Contains(body, "infraplane_reconciles_total") {
			return fmt.Errorf("/metrics as Prometheus: %d %q", status, firstLine(body))
		}
		return nil
	})
}

// getMetrics GETs url with an optional bearer token. The certificate is
// self-signed (no --metrics-cert-dir in the Deployment), as Prometheus's
// insecureSkipVerify in config/prometheus expects.
func getMetrics(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// saToken makes the ServiceAccount ns/name (and its namespace), grants it
// what grant makes, and mints a token for it.
func saToken(t *testing.T, ns, name string, grant func(kubernetes.Interface) error) string {
	t.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := grant(cs); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
