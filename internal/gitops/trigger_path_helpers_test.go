package gitops_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/scheme"
	"github.com/infraplane/infraplane/internal/testenv"
)

// hookCache is a real informer cache, indexed as the controller's (the
// test client, env.Client, has none): the per-source paths are looked up
// in it. One for the test binary.
var (
	hookCacheOnce sync.Once
	hookCache     cache.Cache
	hookCacheErr  error
)

func indexedHookCache(t testing.TB) cache.Cache {
	t.Helper()
	hookCacheOnce.Do(func() {
		c, err := cache.New(env.Config(), cache.Options{Scheme: scheme.New()})
		if err == nil {
			err = gitops.IndexHookPaths(context.Background(), c)
		}
		if err != nil {
			hookCacheErr = err
			return
		}
		go func() { _ = c.Start(context.Background()) }() // for the rest of the binary
		hookCache = c
	})
	if hookCacheErr != nil {
		t.Fatal(hookCacheErr)
	}
	return hookCache
}

// pathHookServer serves the push hook as the controller does (GitSources
// and Secrets read through an indexed cache) and counts the Secrets it
// reads: a real client, wrapped to count its Get calls.
func pathHookServer(t testing.TB, opts gitops.HookOptions) (string, *atomic.Int64) {
	t.Helper()
	var secretGets atomic.Int64
	c, err := client.NewWithWatch(env.Config(), client.Options{Scheme: scheme.New(), Cache: &client.CacheOptions{Reader: indexedHookCache(t)}})
	if err != nil {
		t.Fatal(err)
	}
	counted := interceptor.NewClient(c, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Secret); ok {
				secretGets.Add(1)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	srv := httptest.NewServer(gitops.WebhookHandler(counted, opts))
	t.Cleanup(srv.Close)
	return srv.URL, &secretGets
}

// hookPath waits until the tenant's GitSource shows a path in its status
// and the hook's cache has it, and returns it.
func (tn *hookTenant) hookPath(t *testing.T) string {
	t.Helper()
	return waitHookPath(t, tn.gs, "")
}

// waitHookPath waits for a status.webhookPath other than not (and not
// empty) that the hook's cache finds.
func waitHookPath(t testing.TB, gs *corev1alpha1.GitSource, not string) string {
	t.Helper()
	var path string
	testenv.Eventually(t, 30*time.Second, func() error {
		cur := &corev1alpha1.GitSource{}
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(gs), cur); err != nil {
			return err
		}
		path = cur.Status.WebhookPath
		if path == "" || path == not {
			return fmt.Errorf("status.webhookPath is %q", path)
		}
		var list corev1alpha1.GitSourceList
		if err := indexedHookCache(t).List(context.Background(), &list, client.MatchingFields{"status.webhookPath": path}); err != nil {
			return err
		}
		if len(list.Items) != 1 {
			return fmt.Errorf("the hook's cache has %d GitSources with path %s", len(list.Items), path)
		}
		return nil
	})
	return path
}
