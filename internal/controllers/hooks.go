package controllers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/infraplane/infraplane/internal/gitops"
)

// AddHooksServer serves each GitSource's own POST /hooks/git/<id> and the
// shared POST /hooks/git on addr for as long as the manager runs ("" or
// "0" disables it). It is its own listener, not the metrics
// one: a git host must reach it, and it should not reach metrics. Each
// request authenticates per GitSource (spec.webhookSecretRef); see
// gitops.WebhookHandler.
func AddHooksServer(mgr ctrl.Manager, addr string) error {
	if addr == "" || addr == "0" {
		return nil
	}
	// Each GitSource's own path is found through this index of the cache.
	if err := gitops.IndexHookPaths(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	mux := http.NewServeMux()
	// Rate limits and body cap: gitops.HookOptions defaults. The timeouts
	// keep a slow sender from holding a connection open.
	h := gitops.WebhookHandler(mgr.GetClient(), gitops.HookOptions{Log: mgr.GetLogger().WithName("hooks")})
	mux.Handle(gitops.SharedHookPath, h)
	mux.Handle(gitops.HookPathPrefix, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdown)
		}()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}))
}
