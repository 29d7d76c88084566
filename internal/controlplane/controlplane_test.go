package controlplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var widgetGVR = schema.GroupVersionResource{Group: "test.infraplane.dev", Version: "v1", Resource: "widgets"}

// TestControlPlane exercises one data dir through a start, a stop and a
// second start in the same process. It is one test on purpose: every start
// costs seconds and the binary embeds the whole API server.
func TestControlPlane(t *testing.T) {
	dir := t.TempDir()
	// An existing data dir that other accounts can read: Start makes it
	// private and says so.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var warnings lockedBuffer
	logger := slog.New(slog.NewMultiHandler(testLogger().Handler(),
		slog.NewTextHandler(&warnings, &slog.HandlerOptions{Level: slog.LevelWarn})))
	goroutinesBefore := runtime.NumGoroutine()

	began := time.Now()
	cp := start(t, Options{DataDir: dir, Logger: logger})
	t.Logf("fresh start: %v, %s", time.Since(began), rss())

	ctx := t.Context()
	client := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	dyn := dynamic.NewForConfigOrDie(cp.RESTConfig())
	const ns = "demo"

	t.Run("files", func(t *testing.T) {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("data dir has mode %v, want 0700", fi.Mode().Perm())
		}
		if w := warnings.String(); !strings.Contains(w, "made it 0700") || !strings.Contains(w, "dir="+dir) || !strings.Contains(w, "oldMode=0755") {
			t.Errorf("no warning naming the data dir and its old mode; warnings:\n%s", w)
		}
		for _, name := range []string{caKeyFile, clientCAKeyFile, servingKeyFile, adminKeyFile, saKeyFile,
			etcdCAKeyFile, etcdServerKeyFile, etcdClientKeyFile, webhookClientCAKeyFile, webhookClientKeyFile,
			webhookClientKubeconfig, admissionConfigFile} {
			fi, err := os.Stat(filepath.Join(dir, "pki", name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
			}
		}
		if cp.KubeconfigPath() != filepath.Join(dir, "kubeconfig") {
			t.Errorf("kubeconfig at %s", cp.KubeconfigPath())
		}
		cfg, err := clientcmd.LoadFromFile(cp.KubeconfigPath())
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster].Server; got != cp.URL() {
			t.Errorf("kubeconfig server %q, want %q", got, cp.URL())
		}
	})

	t.Run("data dir in use", func(t *testing.T) {
		_, err := Start(ctx, Options{DataDir: dir, Logger: logger})
		if err == nil || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("second Start on a live data dir: %v, want an in-use error", err)
		}
	})

	t.Run("default namespace", func(t *testing.T) {
		if _, err := client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("namespace and configmap", func(t *testing.T) {
		mustCreateNamespace(t, client, ns)
		_, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "persisted"},
			Data:       map[string]string{"k": "v"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("anonymous refused", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(cp.CACertPEM())
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
		for _, path := range []string{"/api/v1/namespaces", "/readyz", "/version"} {
			resp, err := hc.Get(cp.URL() + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
				t.Errorf("anonymous GET %s: %s, want 401/403", path, resp.Status)
			}
		}
	})

	// Any local account can reach etcd's loopback ports: only a client
	// certificate from the etcd CA, which only the API server holds, gets a
	// TLS session, on the gRPC port (what the API server uses, and what an
	// attacker would) and on the HTTP one.
	t.Run("etcd accepts only the API server", func(t *testing.T) {
		grpcURL := cp.etcdURL
		httpURLs := cp.etcd.Config().ListenClientHttpUrls
		if len(httpURLs) != 1 {
			t.Fatalf("etcd HTTP URLs %v, want one", httpURLs)
		}
		httpURL := httpURLs[0].String()
		for _, u := range []string{grpcURL, httpURL} {
			if !strings.HasPrefix(u, "https://127.0.0.1:") {
				t.Fatalf("etcd serves %s, want https on 127.0.0.1", u)
			}
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(cp.pki.etcdCA.certPEM)
		// get answers the HTTP status; the gRPC port answers HTTP/2 too
		// (with a status other than 200), once the TLS session is up.
		get := func(url string, certs ...*keyPair) (int, error) {
			cfg := &tls.Config{RootCAs: pool}
			for _, kp := range certs {
				cert, err := tls.X509KeyPair(kp.certPEM, kp.keyPEM)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Certificates = append(cfg.Certificates, cert)
			}
			// No idle connections left behind: etcd waits for them when it stops.
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true, DisableKeepAlives: true}, Timeout: 10 * time.Second}
			resp, err := hc.Get(url)
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		// The API server's certificate works: the refusals below are about
		// the certificate, not about reaching etcd.
		if code, err := get(httpURL+"/version", cp.pki.etcdClient); err != nil || code != http.StatusOK {
			t.Fatalf("GET /version with the API server's etcd client certificate: %d, %v", code, err)
		}
		if _, err := get(grpcURL+"/", cp.pki.etcdClient); err != nil {
			t.Fatalf("the gRPC port with the API server's etcd client certificate: %v", err)
		}
		otherCA, err := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "other-ca"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var impostors []*keyPair
		// Another CA, and the data dir's client CA (kubectl users' certificates).
		for _, ca := range []*keyPair{otherCA, cp.pki.clientCA} {
			kp, err := issue(clientTemplate("infraplane-apiserver", nil), ca, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			impostors = append(impostors, kp)
		}
		// A refused handshake shows as a TLS alert or, when the server
		// hangs up first, as a reset connection: the same URL answered the
		// API server's certificate above.
		for _, u := range []string{grpcURL + "/", httpURL + "/version"} {
			if code, err := get(u); err == nil {
				t.Errorf("%s without a client certificate: %d, want a failed handshake", u, code)
			}
			for _, kp := range impostors {
				if code, err := get(u, kp); err == nil {
					t.Errorf("%s with a certificate from %s: %d, want a failed handshake", u, kp.cert.Issuer.CommonName, code)
				}
			}
			plain := "http://" + strings.TrimPrefix(u, "https://")
			if code, err := get(plain); err == nil && code == http.StatusOK {
				t.Errorf("plain HTTP %s: %d, want a failure", plain, code)
			}
		}
	})

	t.Run("APIs served", func(t *testing.T) {
		want := map[string][]string{
			"admissionregistration.k8s.io/v1": {"validatingadmissionpolicies", "validatingadmissionpolicybindings",
				"mutatingadmissionpolicies", "mutatingadmissionpolicybindings",
				"validatingwebhookconfigurations", "mutatingwebhookconfigurations"},
			"apiextensions.k8s.io/v1":      {"customresourcedefinitions"},
			"rbac.authorization.k8s.io/v1": {"roles", "clusterroles", "rolebindings", "clusterrolebindings"},
			"coordination.k8s.io/v1":       {"leases"},
			"v1":                           {"namespaces", "configmaps", "secrets", "serviceaccounts", "events"},
		}
		for gv, resources := range want {
			list, err := client.Discovery().ServerResourcesForGroupVersion(gv)
			if err != nil {
				t.Errorf("%s: %v", gv, err)
				continue
			}
			for _, r := range resources {
				if !slices.ContainsFunc(list.APIResources, func(a metav1.APIResource) bool { return a.Name == r }) {
					t.Errorf("%s/%s not served", gv, r)
				}
			}
		}
	})

	t.Run("CRD with status subresource", func(t *testing.T) {
		installWidgetCRD(t, cp.RESTConfig())
		w := widget("w1", 3)
		created, err := dyn.Resource(widgetGVR).Namespace(ns).Create(ctx, w, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Status goes through the subresource only; spec changes there are ignored.
		unstructured.SetNestedField(created.Object, true, "status", "ready")   //nolint:errcheck
		unstructured.SetNestedField(created.Object, int64(99), "spec", "size") //nolint:errcheck
		if _, err := dyn.Resource(widgetGVR).Namespace(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := dyn.Resource(widgetGVR).Namespace(ns).Get(ctx, "w1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ready, _, _ := unstructured.NestedBool(got.Object, "status", "ready")
		size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size")
		if !ready || size != 3 {
			t.Errorf("status.ready=%v spec.size=%d, want true and 3", ready, size)
		}
	})

	t.Run("server-side apply", func(t *testing.T) {
		cms := client.CoreV1().ConfigMaps(ns)
		got, err := cms.Apply(ctx, corev1ac.ConfigMap("applied", ns).WithData(map[string]string{"a": "1"}),
			metav1.ApplyOptions{FieldManager: "first"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(got.ManagedFields, func(m metav1.ManagedFieldsEntry) bool {
			return m.Manager == "first" && m.Operation == metav1.ManagedFieldsOperationApply
		}) {
			t.Errorf("managedFields lack the apply of %q: %+v", "first", got.ManagedFields)
		}
		_, err = cms.Apply(ctx, corev1ac.ConfigMap("applied", ns).WithData(map[string]string{"a": "2"}),
			metav1.ApplyOptions{FieldManager: "second"})
		if !apierrors.IsConflict(err) {
			t.Errorf("conflicting apply: %v, want a conflict", err)
		}
	})

	t.Run("ValidatingAdmissionPolicy", func(t *testing.T) {
		ar := client.AdmissionregistrationV1()
		policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "no-forbidden"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				MatchConstraints: &admissionregistrationv1.MatchResources{
					ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
						RuleWithOperations: admissionregistrationv1.RuleWithOperations{
							Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
							Rule: admissionregistrationv1.Rule{
								APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"},
							},
						},
					}},
				},
				Validations: []admissionregistrationv1.Validation{{Expression: "!object.metadata.name.startsWith('forbidden')"}},
			},
		}
		if _, err := ar.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "no-forbidden"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName:        "no-forbidden",
				ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			},
		}
		if _, err := ar.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			ar.ValidatingAdmissionPolicyBindings().Delete(ctx, "no-forbidden", metav1.DeleteOptions{}) //nolint:errcheck
			ar.ValidatingAdmissionPolicies().Delete(ctx, "no-forbidden", metav1.DeleteOptions{})       //nolint:errcheck
		}()
		// The policy is enforced once the admission plugin's informers see it.
		eventually(t, 30*time.Second, func() bool {
			_, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "forbidden-1"}}, metav1.CreateOptions{})
			if err == nil {
				client.CoreV1().ConfigMaps(ns).Delete(ctx, "forbidden-1", metav1.DeleteOptions{}) //nolint:errcheck
				return false
			}
			if !strings.Contains(err.Error(), "denied request") {
				t.Fatalf("unexpected error: %v", err)
			}
			return true
		})
	})

	t.Run("garbage collection", func(t *testing.T) {
		owner, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		createDependent(t, client, ns, "dependent", "v1", "ConfigMap", owner.Name, owner.UID)
		began := time.Now()
		if err := client.CoreV1().ConfigMaps(ns).Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, 30*time.Second, func() error {
			_, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "dependent", metav1.GetOptions{})
			return err
		})
		t.Logf("dependent of a ConfigMap collected in %v", time.Since(began))

		// Owner of a kind installed after start: the GC must discover it.
		w, err := dyn.Resource(widgetGVR).Namespace(ns).Create(ctx, widget("owner-widget", 1), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		createDependent(t, client, ns, "widget-child", widgetGVR.GroupVersion().String(), "Widget", w.GetName(), w.GetUID())
		began = time.Now()
		if err := dyn.Resource(widgetGVR).Namespace(ns).Delete(ctx, "owner-widget", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, 60*time.Second, func() error {
			_, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "widget-child", metav1.GetOptions{})
			return err
		})
		t.Logf("dependent of a Widget collected in %v", time.Since(began))
	})

	t.Run("namespace deletion", func(t *testing.T) {
		const doomed = "doomed"
		mustCreateNamespace(t, client, doomed)
		if _, err := client.CoreV1().ConfigMaps(doomed).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := dyn.Resource(widgetGVR).Namespace(doomed).Create(ctx, widget("y", 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		if err := client.CoreV1().Namespaces().Delete(ctx, doomed, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, 60*time.Second, func() error {
			_, err := client.CoreV1().Namespaces().Get(ctx, doomed, metav1.GetOptions{})
			return err
		})
		t.Logf("namespace with content deleted in %v", time.Since(began))
	})

	userKubeconfig := filepath.Join(t.TempDir(), "alice.kubeconfig")
	t.Run("user kubeconfig", func(t *testing.T) {
		if err := cp.WriteUserKubeconfig(userKubeconfig, "alice", []string{"dev"}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(userKubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("user kubeconfig mode %v", fi.Mode().Perm())
		}
		checkUser(t, kubeconfigClient(t, userKubeconfig), "alice", "dev")
		// The same from the data dir alone (infraplane kubeconfig).
		bob := filepath.Join(t.TempDir(), "bob.kubeconfig")
		if err := WriteUserKubeconfigFor(dir, bob, "bob", []string{"oncall", "team-a"}); err != nil {
			t.Fatal(err)
		}
		checkUser(t, kubeconfigClient(t, bob), "bob", "oncall", "team-a")
		// RBAC is in force: alice has no bindings.
		_, err = kubeconfigClient(t, userKubeconfig).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("alice listing namespaces: %v, want forbidden", err)
		}
	})

	var saToken string
	t.Run("service account token", func(t *testing.T) {
		if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		saToken = tr.Status.Token
		// The token authenticator looks the service account up in an
		// informer cache, which may not have seen the new account yet.
		eventually(t, 10*time.Second, func() bool {
			_, err := tokenClient(cp, saToken).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			return err == nil
		})
		checkUser(t, tokenClient(cp, saToken), "system:serviceaccount:"+ns+":robot", "system:serviceaccounts")
	})

	t.Run("kubectl version", func(t *testing.T) {
		kubectlVersion(t, cp.KubeconfigPath())
	})

	// Restart on the same data dir, this time on a fixed port.
	oldKubeconfig, err := clientcmd.LoadFromFile(cp.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	if err := cp.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("stop: %v", time.Since(began))
	if err := cp.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	select {
	case <-cp.Done():
	default:
		t.Error("Done not closed after Stop")
	}

	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	cp = start(t, Options{DataDir: dir, Logger: logger, Port: port})
	t.Logf("restart: %v, %s", time.Since(began), rss())
	if !strings.HasSuffix(cp.URL(), ":"+strconv.Itoa(port)) {
		t.Errorf("URL %s, want port %d", cp.URL(), port)
	}
	client = kubernetes.NewForConfigOrDie(cp.RESTConfig())
	dyn = dynamic.NewForConfigOrDie(cp.RESTConfig())

	t.Run("after restart", func(t *testing.T) {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "persisted", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data["k"] != "v" {
			t.Errorf("configmap data %v", cm.Data)
		}
		w, err := dyn.Resource(widgetGVR).Namespace(ns).Get(ctx, "w1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ready, _, _ := unstructured.NestedBool(w.Object, "status", "ready"); !ready {
			t.Errorf("widget status lost: %v", w.Object["status"])
		}
		newKubeconfig, err := clientcmd.LoadFromFile(cp.KubeconfigPath())
		if err != nil {
			t.Fatal(err)
		}
		oldCluster := oldKubeconfig.Clusters[oldKubeconfig.Contexts[oldKubeconfig.CurrentContext].Cluster]
		newCluster := newKubeconfig.Clusters[newKubeconfig.Contexts[newKubeconfig.CurrentContext].Cluster]
		if !bytes.Equal(oldCluster.CertificateAuthorityData, newCluster.CertificateAuthorityData) {
			t.Error("CA changed across restart")
		}
		if newCluster.Server != cp.URL() {
			t.Errorf("kubeconfig server %q, want %q", newCluster.Server, cp.URL())
		}
		// Credentials issued before the restart keep working. The user
		// kubeconfig names the old port, so only its credentials are reused.
		userCfg, err := clientcmd.BuildConfigFromFlags(cp.URL(), userKubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		checkUser(t, kubernetes.NewForConfigOrDie(userCfg), "alice", "dev")
		checkUser(t, tokenClient(cp, saToken), "system:serviceaccount:"+ns+":robot")
		// The GC runs again.
		owner, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner2"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		createDependent(t, client, ns, "dependent2", "v1", "ConfigMap", owner.Name, owner.UID)
		if err := client.CoreV1().ConfigMaps(ns).Delete(ctx, "owner2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, 30*time.Second, func() error {
			_, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "dependent2", metav1.GetOptions{})
			return err
		})
	})

	if err := cp.Stop(ctx); err != nil {
		t.Fatalf("final stop: %v", err)
	}
	// Informational: upstream leaves a few goroutines behind (e.g. idle
	// connection reapers); a large number would point at a leak of ours.
	time.Sleep(time.Second)
	t.Logf("goroutines: %d before start, %d after final stop", goroutinesBefore, runtime.NumGoroutine())
}

func TestStartErrors(t *testing.T) {
	ctx := t.Context()
	if _, err := Start(ctx, Options{}); err == nil {
		t.Error("Start without DataDir succeeded")
	}
	if _, err := Start(ctx, Options{DataDir: t.TempDir(), BindAddress: "nope"}); err == nil {
		t.Error("Start with a bad BindAddress succeeded")
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	_, err = Start(ctx, Options{DataDir: dir, Port: taken.Addr().(*net.TCPAddr).Port, Logger: testLogger()})
	if err == nil {
		t.Error("Start on a taken port succeeded")
	}

	// A cancelled start cleans up after itself: the dir is free again.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Start(cancelled, Options{DataDir: dir, Logger: testLogger()}); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with a cancelled context: %v", err)
	}
	release, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("data dir still locked after a failed start: %v", err)
	}
	release()
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger shows errors only; INFRAPLANE_TEST_DEBUG=1 shows everything.
func testLogger() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("INFRAPLANE_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func start(t *testing.T, opts Options) *ControlPlane {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cp, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cp.Stop(ctx) //nolint:errcheck // idempotent; the test checks the result itself
	})
	return cp
}

func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "rss unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return "rss " + strings.Join(strings.Fields(line)[1:], " ")
		}
	}
	return "rss unknown"
}

func mustCreateNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createDependent(t *testing.T, c kubernetes.Interface, ns, name, apiVersion, kind, ownerName string, ownerUID types.UID) {
	t.Helper()
	_, err := c.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: name,
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: apiVersion, Kind: kind, Name: ownerName, UID: ownerUID,
		}},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func waitGone(t *testing.T, timeout time.Duration, get func() error) {
	t.Helper()
	eventually(t, timeout, func() bool {
		err := get()
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return apierrors.IsNotFound(err)
	})
}

func eventually(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func widget(name string, size int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": widgetGVR.GroupVersion().String(),
		"kind":       "Widget",
		"metadata":   map[string]any{"name": name},
		"spec":       map[string]any{"size": size},
	}}
}

func installWidgetCRD(t *testing.T, cfg *rest.Config) {
	t.Helper()
	ctx := t.Context()
	c := apiextensionsclient.NewForConfigOrDie(cfg)
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: widgetGVR.Resource + "." + widgetGVR.Group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: widgetGVR.Group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"size": {Type: "integer"},
						}},
						"status": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"ready": {Type: "boolean"},
						}},
					},
				}},
			}},
		},
	}
	if _, err := c.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() bool {
		got, err := c.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true
			}
		}
		return false
	})
}

func kubeconfigClient(t *testing.T, path string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

func tokenClient(cp *ControlPlane, token string) kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(&rest.Config{
		Host:            cp.URL(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.CACertPEM()},
	})
}

// checkUser asks the server who the client is (SelfSubjectReview).
func checkUser(t *testing.T, c kubernetes.Interface, user string, groups ...string) {
	t.Helper()
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview as %s: %v", user, err)
	}
	info := r.Status.UserInfo
	if info.Username != user {
		t.Errorf("authenticated as %q, want %q", info.Username, user)
	}
	for _, g := range append(groups, "system:authenticated") {
		if !slices.Contains(info.Groups, g) {
			t.Errorf("%s: groups %v lack %q", user, info.Groups, g)
		}
	}
}

func kubectlVersion(t *testing.T, kubeconfig string) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kubectl not on PATH")
		}
		t.Skip("kubectl not on PATH")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectl, "version", "-o", "json", "--kubeconfig="+kubeconfig)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl version: %v\n%s", err, stderr.String())
	}
	var v struct {
		ServerVersion struct {
			GitVersion string `json:"gitVersion"`
			Major      string `json:"major"`
			Minor      string `json:"minor"`
		} `json:"serverVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("kubectl output: %v\n%s", err, out)
	}
	if v.ServerVersion.GitVersion != KubernetesVersion() || !strings.HasPrefix(v.ServerVersion.GitVersion, "v1.") {
		t.Errorf("server version %+v, want %s", v.ServerVersion, KubernetesVersion())
	}
	t.Logf("kubectl sees server %s (major %s, minor %s)", v.ServerVersion.GitVersion, v.ServerVersion.Major, v.ServerVersion.Minor)
}
