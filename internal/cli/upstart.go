package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	"github.com/infraplane/infraplane/internal/crds"
	"github.com/infraplane/infraplane/internal/localcloud"
	"github.com/infraplane/infraplane/internal/managed"
)

// What `up` starts in the background while the rest of the start goes on.

// pendingCloud is a local cloud starting (none for --cloud gcp).
type pendingCloud struct {
	done  chan struct{}
	cloud *localcloud.Cloud
	err   error
	taken bool
}

// startLocalCloud starts the local cloud --cloud asks for, in the
// background; a bad --cloud is an error at once.
func startLocalCloud(ctx context.Context, f *upFlags, dataDir string) (*pendingCloud, error) {
	p := &pendingCloud{done: make(chan struct{})}
	if f.cloud == "gcp" {
		close(p.done)
		return p, nil
	}
	mode, err := localcloud.ParseMode(f.cloud)
	if err != nil {
		return nil, fmt.Errorf("--cloud: %w", err)
	}
	go func() {
		defer close(p.done)
		p.cloud, p.err = localcloud.Start(ctx, localcloud.Options{
			Mode: mode, PubSubPort: f.pubsubPort, LogDir: filepath.Join(dataDir, "logs"), Logger: slog.Default(), Project: f.project,
		})
	}()
	return p, nil
}

// take waits for the cloud; its caller stops it from then on.
func (p *pendingCloud) take() (*localcloud.Cloud, error) {
	<-p.done
	p.taken = true
	return p.cloud, p.err
}

// stopUnlessTaken stops a cloud nobody took (up failed before).
func (p *pendingCloud) stopUnlessTaken() {
	if p.taken {
		return
	}
	<-p.done
	if p.cloud != nil {
		if err := p.cloud.Stop(); err != nil {
			slog.Error("stopping the local cloud", "err", err)
		}
	}
}

// pendingPolicy is the finalizer policy being installed and waited for.
type pendingPolicy struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
}

// startFinalizerPolicy installs the finalizer policy in the background
// and binds it to every object only once it works for each kind
// (crds.EnableFinalizerPolicy). Until
// then, creates get the finalizer from the controller, as on clusters
// without the policy.
func startFinalizerPolicy(ctx context.Context, c client.Client) *pendingPolicy {
	ctx, cancel := context.WithCancel(ctx)
	p := &pendingPolicy{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		probe := &pubsubv1.Topic{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault, Name: "infraplane-finalizer-probe"}}
		if err := crds.EnableFinalizerPolicy(ctx, c, probe, managed.Finalizer); err != nil && ctx.Err() == nil {
			p.err = err
		}
	}()
	return p
}

// wait waits for the policy and returns an error installing it; a second
// call (the deferred one after an early return) cancels what still runs.
func (p *pendingPolicy) wait() error {
	first := false
	p.once.Do(func() { first = true })
	if !first {
		p.cancel()
	}
	<-p.done
	return p.err
}
