// Package install_test installs config/default on a bare API server and
// runs `infraplane controller` as its ServiceAccount, with nothing but
// that ServiceAccount's token, through Pub/Sub, GitOps and break-glass.
// Every request the controller makes goes through a proxy that fails the
// test on a 401 or 403: the generated RBAC must be enough, and nothing
// may need more.
package install_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pubsubapi "cloud.google.com/go/pubsub/v2/apiv1"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	commonv1 "github.com/infraplane/infraplane/api/common/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/config"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/cli"
	"github.com/infraplane/infraplane/internal/controllers"
	"github.com/infraplane/infraplane/internal/controlplane"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/ledger"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/localcloud/cloudtest"
	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/tenant"
	"github.com/infraplane/infraplane/internal/testenv"
	"github.com/infraplane/infraplane/internal/webhookcert"
)

var env *testenv.Env

// The API server alone, as a fresh cluster: the test installs the rest.
func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env, testenv.Options{APIServerOnly: true}))
}

const (
	systemNS     = "infraplane-system"
	controllerSA = "infraplane-controller"
	oncallGroup  = "team-oncall"
	oncallUser   = "alice@example.com"
)

// notServed are the kinds of config/default the embedded API server does
// not serve (it has no pods, nodes or services): nothing else may be left
// out.
var notServed = []string{"Deployment", "Service", "PodDisruptionBudget"}

func TestInstallRunsWithItsOwnRights(t *testing.T) {
	ctx := context.Background()
	objs, err := config.Build(config.Default)
	if err != nil {
		t.Fatal(err)
	}
	deployment := install(t, objs)
	cloud := cloudtest.Start(t, localcloud.Options{Mode: localcloud.ModeEmulators, Services: []localcloud.Service{localcloud.ServicePubSub}})
	proxy := newAPIProxy(t)
	token := serviceAccountToken(t)
	proxy.checkDetects(t, token)

	// Two replicas starting at once make the webhook certificate: one
	// Secret, one CA, the same certificate in both.
	bundle := certificateRace(t, proxy.config(token))

	// The audit ledger on a disk of its own, signed with a key from a
	// file (a mounted Secret in a cluster).
	ledgerDir, canFill := ledgerVolume(t)
	ledgerPath, keyPath := filepath.Join(ledgerDir, "ledger.jsonl"), filepath.Join(t.TempDir(), "ledger.key")
	if _, _, err := ledger.EnsureKeyFile(keyPath, time.Now()); err != nil {
		t.Fatal(err)
	}

	webhookPort, healthPort, metricsPort := freePort(t), freePort(t), freePort(t)
	runController(t, deployment, proxy.kubeconfig(t, token), webhookPort, healthPort,
		"--ledger="+ledgerPath, "--ledger-key-file="+keyPath,
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(metricsPort))
	if err := controllers.WaitWebhook(ctx, env.Client, "default"); err != nil {
		t.Fatal(err)
	}
	checkRegistered(t, bundle)
	checkReady(t, healthPort)

	ns := env.Namespace(t, env.ProviderConfig(t, "install", cloud))
	env.Onboard(t, tenant.Team{Namespace: ns, OncallGroups: []string{oncallGroup}})
	subs, err := pubsubapi.NewSubscriptionAdminClient(ctx, cloud.PubSubClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer subs.Close()

	t.Log("Pub/Sub: a topic and a subscription become Ready")
	topic := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "direct", Namespace: ns},
		Spec: pubsubv1.TopicSpec{ManagedSpec: abandon()}}
	sub := &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Name: "direct-worker", Namespace: ns},
		Spec: pubsubv1.SubscriptionSpec{ManagedSpec: abandon(), TopicRef: commonv1.ResourceRef{Name: "direct"}}}
	env.Create(t, topic)
	env.Create(t, sub)
	env.WaitReady(t, topic)
	env.WaitReady(t, sub)

	t.Log("Blueprints: a kind in a granted group is served; one in another group says what to grant")
	bp := apply(t, blueprintYAML)
	waitCondition(t, bp, corev1alpha1.BlueprintReady, metav1.ConditionTrue, "")
	for _, suffix := range []string{"view", "edit"} { // made only if the controller holds what they grant
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "infraplane-blueprint-install-channel-" + suffix}, &rbacv1.ClusterRole{}); err != nil {
			t.Fatalf("the Blueprint's role for people: %v", err)
		}
	}
	channel := apply(t, fmt.Sprintf("apiVersion: platform.infraplane.dev/v1alpha1\nkind: Channel\nmetadata: {name: events, namespace: %s}\nspec: {}\n", ns))
	waitCondition(t, channel, "Ready", metav1.ConditionTrue, "")
	env.WaitReady(t, &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Name: "events", Namespace: ns}})
	other := apply(t, strings.ReplaceAll(strings.ReplaceAll(blueprintYAML, "platform.infraplane.dev", "other.example.com"), "install-channel", "install-other"))
	waitCondition(t, other, corev1alpha1.BlueprintReady, metav1.ConditionFalse, "NotPermitted")

	t.Log("GitOps: a GitSource syncs a local repository, as the team's ServiceAccount")
	repo := newRepo(t)
	repo.push(t, map[string]string{"topic.yaml": topicYAML, "subscription.yaml": subscriptionYAML})
	gs := &corev1alpha1.GitSource{
		ObjectMeta: metav1.ObjectMeta{Name: "infra", Namespace: ns},
		Spec:       corev1alpha1.GitSourceSpec{URL: repo.bare, Interval: metav1.Duration{Duration: time.Hour}},
	}
	env.Create(t, gs)
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(gs), gs); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(gs.Status.Conditions, gitops.TypeReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("GitSource not Ready: %+v", gs.Status.Conditions)
		}
		return nil
	})
	worker := &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Name: "orders-worker", Namespace: ns}}
	env.WaitReady(t, worker)
	if got := worker.Labels[corev1alpha1.SourceLabel]; got != ns+".infra" {
		t.Fatalf("orders-worker has source label %q, want %s.infra", got, ns)
	}
	waitAckDeadline(t, subs, cloud, 10)

	t.Log("Metrics: HTTPS, and only for those who may GET /metrics")
	checkMetrics(t, metricsPort, ns)

	t.Log("Break-glass: open, edit, close, revert")
	alice := env.Person(t, oncallUser, oncallGroup)
	if err := setAckDeadline(ctx, alice, ns, 20); err == nil || !strings.Contains(err.Error(), "managed by git") {
		t.Fatalf("a direct edit of git's object was not refused by the guard: %v", err)
	}
	bg, err := breakglass.Open(ctx, alice, breakglass.OpenRequest{
		Namespace: ns, Targets: []string{"subscription/orders-worker"}, Incident: "INC-1",
		Reason: "INC-1 install test: raise the ack deadline", Duration: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if bg.Status.Phase != corev1alpha1.BreakGlassActive {
		t.Fatalf("break-glass %s is %s, want Active", bg.Name, bg.Status.Phase)
	}
	if err := setAckDeadline(ctx, alice, ns, 20); err != nil {
		t.Fatalf("the opener's edit under the break-glass: %v", err)
	}
	waitAckDeadline(t, subs, cloud, 20)
	bg, err = breakglass.Close(ctx, alice, client.ObjectKeyFromObject(bg))
	if err != nil {
		t.Fatal(err)
	}
	if bg.Status.Phase != corev1alpha1.BreakGlassClosed || len(bg.Status.Held) == 0 {
		t.Fatalf("closed break-glass: phase %s, held %v; want Closed, holding orders-worker", bg.Status.Phase, bg.Status.Held)
	}
	if _, err := breakglass.Revert(ctx, alice, client.ObjectKeyFromObject(bg)); err != nil {
		t.Fatal(err)
	}
	waitAckDeadline(t, subs, cloud, 10)

	if canFill {
		t.Log("Audit: with the ledger's disk full, nothing is written to the cloud unrecorded")
		checkFullDisk(t, ns, cloud, ledgerDir, ledgerPath, keyPath)
	}

	proxy.checkNoneRefused(t)
	t.Logf("the controller made %d requests as %s, none refused", proxy.count(), controllerSA)
}

// abandon: the cloud stops when the test ends, before the objects go.
func abandon() commonv1.ManagedSpec {
	return commonv1.ManagedSpec{DeletionPolicy: commonv1.DeletionAbandon}
}

const blueprintYAML = `apiVersion: infraplane.dev/v1alpha1
kind: Blueprint
metadata:
  name: install-channel
spec:
  group: platform.infraplane.dev
  version: v1alpha1
  kind: Channel
  schema: {type: object}
  resources:
  - id: topic
    template:
      apiVersion: pubsub.infraplane.dev/v1alpha1
      kind: Topic
      metadata:
        name: ${metadata.name}
      spec:
        deletionPolicy: Abandon
`

// apply creates (or updates) the object in y as the administrator.
func apply(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.FieldOwner("install-test"), client.ForceOwnership); err != nil {
		t.Fatalf("applying %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return u
}

// waitCondition waits until obj has condition typ with status (and reason,
// unless empty).
func waitCondition(t *testing.T, obj *unstructured.Unstructured, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(obj.GroupVersionKind())
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), got); err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			c := c.(map[string]any)
			if c["type"] == typ && c["status"] == string(status) && (reason == "" || c["reason"] == reason) {
				return nil
			}
		}
		return fmt.Errorf("%s %s: want %s=%s %s, have %v", obj.GetKind(), obj.GetName(), typ, status, reason, conds)
	})
}

const topicYAML = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Topic
metadata:
  name: orders
spec:
  deletionPolicy: Abandon
`

const subscriptionYAML = `apiVersion: pubsub.infraplane.dev/v1alpha1
kind: Subscription
metadata:
  name: orders-worker
spec:
  topicRef:
    name: orders
  ackDeadlineSeconds: 10
  deletionPolicy: Abandon
`

// install applies what the cluster serves of objs (CRDs and the
// namespace first), as an administrator would, and returns the
// Deployment it could not apply.
func install(t *testing.T, objs []*unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	ctx := context.Background()
	rank := func(o *unstructured.Unstructured) int {
		switch o.GetKind() {
		case "Namespace":
			return 0
		case "CustomResourceDefinition":
			return 1
		}
		return 2
	}
	objs = slices.Clone(objs)
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return rank(a) - rank(b) })
	var deployment *unstructured.Unstructured
	crdsReady := false
	for _, o := range objs {
		if rank(o) == 2 && !crdsReady {
			waitCRDs(t, objs)
			crdsReady = true
		}
		if slices.Contains(notServed, o.GetKind()) {
			if o.GetKind() == "Deployment" {
				deployment = o
			}
			continue
		}
		err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.FieldOwner("install-test"), client.ForceOwnership)
		if err != nil {
			t.Fatalf("applying %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	if deployment == nil {
		t.Fatal("config/default has no Deployment")
	}
	return deployment
}

func waitCRDs(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		testenv.Eventually(t, testenv.WaitTimeout, func() error {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := env.Client.Get(context.Background(), client.ObjectKey{Name: o.GetName()}, crd); err != nil {
				return err
			}
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("CRD %s not established", o.GetName())
		})
	}
}

// serviceAccountToken mints a token for the controller's ServiceAccount,
// as the kubelet would for its pod.
func serviceAccountToken(t *testing.T) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(systemNS).CreateToken(context.Background(), controllerSA,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", systemNS, controllerSA, err)
	}
	return tr.Status.Token
}

// apiProxy stands between the controller and the API server and records
// every request the API server refuses (401, 403).
type apiProxy struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests int
	refused  []string
}

func newAPIProxy(t *testing.T) *apiProxy {
	t.Helper()
	target, err := url.Parse(env.Config().Host)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(env.ControlPlane().CACertPEM())
	p := &apiProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		FlushInterval: -1, // watches stream
		ModifyResponse: func(resp *http.Response) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.requests++
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
				return nil
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
			shown := body
			if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
				shown = []byte("(" + resp.Header.Get("Content-Type") + ")")
			}
			req := resp.Request
			as := ""
			if u := req.Header.Get("Impersonate-User"); u != "" {
				as = " (as " + u + ")"
			}
			p.refused = append(p.refused, fmt.Sprintf("%d %s %s%s: %s", resp.StatusCode, req.Method, req.URL.RequestURI(), as, bytes.TrimSpace(shown)))
			return nil
		},
	}
	p.srv = httptest.NewTLSServer(rp)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *apiProxy) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
}

// config authenticates with token alone, through the proxy.
func (p *apiProxy) config(token string) *rest.Config {
	return &rest.Config{Host: p.srv.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM()}}
}

// kubeconfig writes the controller's kubeconfig: the token, nothing else.
func (p *apiProxy) kubeconfig(t *testing.T, token string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: p.srv.URL, CertificateAuthorityData: p.caPEM()}
	cfg.AuthInfos["controller"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["controller"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "controller"}
	cfg.CurrentContext = "controller"
	path := filepath.Join(t.TempDir(), "controller.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkDetects makes sure the proxy sees a refusal: the controller may not
// list ConfigMaps.
func (p *apiProxy) checkDetects(t *testing.T, token string) {
	t.Helper()
	c, err := client.New(p.config(token), client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.List(context.Background(), &corev1.ConfigMapList{}, client.InNamespace(systemNS)); !apierrors.IsForbidden(err) {
		t.Fatalf("listing ConfigMaps as the controller: %v, want forbidden", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.refused) != 1 {
		t.Fatalf("the proxy recorded %v, want the one refusal", p.refused)
	}
	p.refused, p.requests = nil, 0
}

func (p *apiProxy) checkNoneRefused(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.refused {
		t.Errorf("the API server refused the controller: %s", r)
	}
	if len(p.refused) > 0 {
		t.Errorf("the controller's RBAC (config/rbac/controller, from the +kubebuilder:rbac markers) is not enough")
	}
}

func (p *apiProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// certificateRace runs two self-managed certificate sources at once, as
// two replicas starting together would, and returns the CA bundle.
func certificateRace(t *testing.T, cfg *rest.Config) []byte {
	t.Helper()
	var wg sync.WaitGroup
	var bundles [2][]byte
	var errs [2]error
	dirs := [2]string{t.TempDir(), t.TempDir()}
	for i := range 2 {
		c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
		if err != nil {
			t.Fatal(err)
		}
		src := &webhookcert.SelfManaged{Client: c, Namespace: systemNS, Name: webhookcert.DefaultSecret, Dir: dirs[i],
			Names: webhookcert.Names{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}}
		wg.Go(func() { bundles[i], errs[i] = src.Ensure(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(bundles[0], bundles[1]) {
		t.Fatal("two replicas ended up with different CA bundles")
	}
	a, _ := os.ReadFile(filepath.Join(dirs[0], webhookcert.CertFile))
	b, _ := os.ReadFile(filepath.Join(dirs[1], webhookcert.CertFile))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("two replicas serve different certificates")
	}
	sec := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: systemNS, Name: webhookcert.DefaultSecret}, sec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sec.Data["ca.crt"], bundles[0]) || !bytes.Equal(sec.Data["tls.crt"], a) {
		t.Fatal("the Secret does not hold what the replicas use")
	}
	return bundles[0]
}

// runController runs `infraplane controller` in this process with the
// Deployment's arguments, adapted to a machine without Services: the
// webhook is registered by URL, ports and directories are the test's.
func runController(t *testing.T, deployment *unstructured.Unstructured, kubeconfig string, webhookPort, healthPort int, extra ...string) {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("the Deployment has %d containers", len(containers))
	}
	argv, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	var args []string
	for _, a := range argv {
		if strings.HasPrefix(a, "--webhook-service=") {
			continue // no Services here: --webhook-url below
		}
		args = append(args, a)
	}
	level := "warn"
	if v := os.Getenv("INFRAPLANE_TEST_LOG"); v != "" {
		level = v
	}
	// Later flags win.
	args = append(args,
		"--kubeconfig="+kubeconfig,
		"--log-format=text", "--log-level="+level,
		"--webhook-url=https://127.0.0.1:"+strconv.Itoa(webhookPort),
		"--webhook-port="+strconv.Itoa(webhookPort),
		"--webhook-cert-dir="+t.TempDir(),
		"--git-cache-dir="+t.TempDir(),
		"--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(healthPort),
		"--hooks-bind-address=0",
	)
	args = append(args, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx, args) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("infraplane controller: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("infraplane controller did not stop within a minute")
		}
	})
	// A controller that fails at start ends the test at once.
	select {
	case err := <-done:
		t.Fatalf("infraplane controller %s: exited: %v", strings.Join(args, " "), err)
	case <-time.After(100 * time.Millisecond):
	}
}

// checkRegistered waits until the controller has registered every webhook
// configuration, trusting the self-managed CA.
func checkRegistered(t *testing.T, bundle []byte) {
	t.Helper()
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		ctx := context.Background()
		var ccs []admissionregistrationv1.WebhookClientConfig
		for _, name := range []string{breakglass.WebhookConfigName, "infraplane-gitsources", "infraplane-confine", "infraplane-blueprint"} {
			val := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, val); err != nil {
				return err
			}
			for _, w := range val.Webhooks {
				ccs = append(ccs, w.ClientConfig)
			}
		}
		mut := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: breakglass.WebhookConfigName}, mut); err != nil {
			return err
		}
		for _, w := range mut.Webhooks {
			ccs = append(ccs, w.ClientConfig)
		}
		for _, cc := range ccs {
			if !bytes.Equal(cc.CABundle, bundle) {
				return fmt.Errorf("webhook at %s does not trust the CA in Secret %s", ptr.Deref(cc.URL, ""), webhookcert.DefaultSecret)
			}
		}
		return nil
	})
}

// checkReady: the Deployment's probes find the controller healthy.
func checkReady(t *testing.T, port int) {
	t.Helper()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := controlplane.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func setAckDeadline(ctx context.Context, c client.Client, ns string, seconds int) error {
	sub := &pubsubv1.Subscription{ObjectMeta: metav1.ObjectMeta{Name: "orders-worker", Namespace: ns}}
	patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"ackDeadlineSeconds":%d}}`, seconds))
	return c.Patch(ctx, sub, patch)
}

func waitAckDeadline(t *testing.T, subs *pubsubapi.SubscriptionAdminClient, cloud *localcloud.Cloud, want int32) {
	t.Helper()
	testenv.Eventually(t, testenv.WaitTimeout, func() error {
		got, err := subs.GetSubscription(context.Background(), &pubsubpb.GetSubscriptionRequest{
			Subscription: fmt.Sprintf("projects/%s/subscriptions/orders-worker", cloud.Project()),
		})
		if err != nil {
			return err
		}
		if got.AckDeadlineSeconds != want {
			return fmt.Errorf("the cloud's ack deadline is %d, want %d", got.AckDeadlineSeconds, want)
		}
		return nil
	})
}

// repo is a bare repository the GitSource reads and a clone to push from.
type repo struct {
	bare string
	wr   *git.Repository
	work string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	bare := t.TempDir()
	if _, err := git.PlainInitWithOptions(bare, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}}); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	wr, err := git.PlainInitWithOptions(work, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wr.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{bare}}); err != nil {
		t.Fatal(err)
	}
	return &repo{bare: bare, wr: wr, work: work}
}

func (r *repo) push(t *testing.T, files map[string]string) {
	t.Helper()
	wt, err := r.wr.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r.work, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := wt.Commit("infrastructure", &git.CommitOptions{Author: &object.Signature{Name: "Grace Hopper", Email: "grace@example.com", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := r.wr.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []gitconfig.RefSpec{"refs/heads/main:refs/heads/main"}}); err != nil {
		t.Fatal(err)
	}
}
