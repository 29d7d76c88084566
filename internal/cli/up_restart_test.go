package cli

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/scheme"
)

// upRun is an `up` running in this process.
type upRun struct {
	c    client.Client
	cfg  *rest.Config
	out  *syncBuffer
	stop func() // stops it (again: a no-op); the test's cleanup calls it
}

// startUp runs `up` with args until the test ends (or stop) and returns
// once it has said it is up.
func startUp(t *testing.T, dataDir string, args []string) upRun {
	t.Helper()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("up: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("up did not stop within a minute")
		}
	}
	t.Cleanup(stop)
	deadline := time.After(3 * time.Minute)
	for !strings.Contains(out.String(), "infraplane is up") {
		select {
		case err := <-done:
			t.Fatalf("up exited: %v\n%s", err, out)
		case <-deadline:
			t.Fatalf("up did not say it is up within 3 minutes:\n%s", out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dataDir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	return upRun{c: c, cfg: cfg, out: out, stop: stop}
}

// The finalizer policy's admission plugin refuses every create of a kind
// whose schema it has not read yet (503 "Resource kind … not found"), and
// it reads them every 5 s from the API server's start: with the policy
// bound, a restarted up refused every create of a managed kind for about
// 3 s after saying it was up. Now the binding goes at start and comes back
// once the policy works for each kind.
func TestUpCreatesRightAfterUp(t *testing.T) {
	dataDir := t.TempDir()
	args := upArgs(t, dataDir)
	bg := context.Background()

	createEachKind := func(t *testing.T, c client.Client, when string) {
		t.Helper()
		for _, gvk := range []schema.GroupVersionKind{
			{Group: "pubsub.infraplane.dev", Version: "v1alpha1", Kind: "Topic"},
			{Group: "pubsub.infraplane.dev", Version: "v1alpha1", Kind: "Subscription"},
			{Group: "storage.infraplane.dev", Version: "v1alpha1", Kind: "Bucket"},
			{Group: "spanner.infraplane.dev", Version: "v1alpha1", Kind: "SpannerInstance"},
			{Group: "bigtable.infraplane.dev", Version: "v1alpha1", Kind: "BigtableTable"},
			{Group: "postgres.infraplane.dev", Version: "v1alpha1", Kind: "Database"},
		} {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			u.SetNamespace("default")
			u.SetName("right-after-up")
			// A body the schema may refuse (422) is fine: what must not
			// happen is the admission plugin refusing the kind (503).
			if err := c.Create(bg, u, client.DryRunAll); apierrors.IsServiceUnavailable(err) {
				t.Errorf("a create of a %s %s: %v", gvk.Kind, when, err)
			}
		}
	}
	policyInEffect := func(t *testing.T, c client.Client) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			topic := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "policy-probe"}}
			err := c.Create(bg, topic, client.DryRunAll)
			if err == nil && slices.Contains(topic.Finalizers, managed.Finalizer) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the finalizer policy is not in effect a minute after up (last: err %v, finalizers %v)", err, topic.Finalizers)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	first := startUp(t, dataDir, args)
	createEachKind(t, first.c, "right after a first start")
	policyInEffect(t, first.c)
	first.stop()

	// The restart begins with the policy bound, as the first run left it.
	restart := startUp(t, dataDir, args)
	createEachKind(t, restart.c, "right after a restart")
	// The optimization is back once it works.
	policyInEffect(t, restart.c)
}
