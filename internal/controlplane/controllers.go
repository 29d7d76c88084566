package controlplane

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/controller-manager/pkg/informerfactory"
	"k8s.io/kubernetes/pkg/controller/clusterroleaggregation"
	"k8s.io/kubernetes/pkg/controller/garbagecollector"
	namespacecontroller "k8s.io/kubernetes/pkg/controller/namespace"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
)

const (
	// How often the GC re-reads discovery to watch new resource types.
	// kube-controller-manager uses 30s, which leaves owners of a freshly
	// installed CRD kind unwatched for up to 30s: their dependents would only
	// cascade after that. A discovery round costs ~2ms CPU in-process
	// (measured), so 2s is cheap and keeps the delay short.
	gcSyncPeriod = 2 * time.Second
	// How long GC workers wait for the initial graph before working anyway.
	gcInitialSyncTimeout = 30 * time.Second
	gcWorkers            = 5
	namespaceWorkers     = 2
	aggregationWorkers   = 1
	namespaceResync      = 5 * time.Minute // kube-controller-manager default
	informerResync       = 12 * time.Hour  // kube-controller-manager minimum
	restMapperResetDur   = 30 * time.Second
)

// controllers runs the kube-controller-manager controllers a bare API
// server needs to keep its promises: the garbage collector (ownerReferences
// cascade), the namespace controller (namespaces with content delete) and
// ClusterRole aggregation (the people's roles take in the roles each
// Blueprint's kind gets, as on any cluster).
type controllers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   []func() // informer factory shutdowns, run after ctx is cancelled
}

// startControllers wires the controllers as kube-controller-manager does
// (cmd/kube-controller-manager/app: CreateControllerContext, core.go).
func startControllers(parent context.Context, base *rest.Config) (*controllers, error) {
	cfg := func(name string) *rest.Config {
		c := rest.CopyConfig(base)
		return rest.AddUserAgent(c, name)
	}
	client, err := kubernetes.NewForConfig(cfg("shared-informers"))
	if err != nil {
		return nil, err
	}
	metaClient, err := metadata.NewForConfig(cfg("metadata-informers"))
	if err != nil {
		return nil, err
	}
	discoClient, err := discovery.NewDiscoveryClientForConfig(cfg("controller-discovery"))
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithCancel(parent)
	c := &controllers{cancel: cancel}
	sharedInformers := informers.NewSharedInformerFactory(client, informerResync)
	// The garbage collector and namespace controller read owners and
	// finalizers, never managedFields: their metadata caches drop them
	// (about 1.3 KiB per object at 20,000 Topics; docs/benchmarks.md).
	metaInformers := metadatainformer.NewSharedInformerFactoryWithOptions(metaClient, informerResync,
		metadatainformer.WithTransform(crcache.TransformStripManagedFields()))
	c.stop = append(c.stop, sharedInformers.Shutdown, metaInformers.Shutdown)
	informersStarted := make(chan struct{})

	restMapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discoClient))
	c.wg.Go(func() {
		wait.UntilWithContext(ctx, func(context.Context) { restMapper.Reset() }, restMapperResetDur)
	})

	// Garbage collector.
	gcConfig := cfg("generic-garbage-collector")
	gcConfig.QPS *= 2 // each deletion takes two calls
	gcClient, err := kubernetes.NewForConfig(gcConfig)
	if err != nil {
		cancel()
		return nil, err
	}
	gcMeta, err := metadata.NewForConfig(gcConfig)
	if err != nil {
		cancel()
		return nil, err
	}
	// Sync must not share the mapper's discovery client: Reset on the mapper
	// would invalidate it on every comparison.
	gcDiscovery, err := discovery.NewDiscoveryClientForConfig(gcConfig)
	if err != nil {
		cancel()
		return nil, err
	}
	gc, err := garbagecollector.NewGarbageCollector(ctx, gcClient, gcMeta, restMapper,
		garbagecollector.DefaultIgnoredResources(),
		informerfactory.NewInformerFactory(sharedInformers, metaInformers),
		informersStarted)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("creating garbage collector: %w", err)
	}
	c.wg.Go(func() { gc.Run(ctx, gcWorkers, gcInitialSyncTimeout) })
	c.wg.Go(func() { gc.Sync(ctx, gcDiscovery, gcSyncPeriod) })

	// Namespace controller; upstream raises its rate limits because deleting
	// a namespace's content is a burst of discovery and delete calls.
	nsConfig := cfg("namespace-controller")
	nsConfig.QPS *= 20
	nsConfig.Burst *= 100
	nsClient, err := kubernetes.NewForConfig(nsConfig)
	if err != nil {
		cancel()
		return nil, err
	}
	nsMeta, err := metadata.NewForConfig(nsConfig)
	if err != nil {
		cancel()
		return nil, err
	}
	nc := namespacecontroller.NewNamespaceController(ctx, nsClient, nsMeta,
		nsClient.Discovery().ServerPreferredNamespacedResources,
		sharedInformers.Core().V1().Namespaces(), namespaceResync, v1.FinalizerKubernetes)
	c.wg.Go(func() { nc.Run(ctx, namespaceWorkers) })

	// ClusterRole aggregation.
	aggClient, err := kubernetes.NewForConfig(cfg("clusterrole-aggregation-controller"))
	if err != nil {
		cancel()
		return nil, err
	}
	agg := clusterroleaggregation.NewClusterRoleAggregation(sharedInformers.Rbac().V1().ClusterRoles(), aggClient.RbacV1())
	c.wg.Go(func() { agg.Run(ctx, aggregationWorkers) })

	// Informers start only after every controller registered its handlers.
	sharedInformers.Start(ctx.Done())
	metaInformers.Start(ctx.Done())
	close(informersStarted)
	return c, nil
}

// Stop cancels the controllers and waits for their goroutines, bounded by ctx.
func (c *controllers) Stop(ctx context.Context) error {
	c.cancel()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		for _, f := range c.stop {
			f()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("controllers did not stop: %w", ctx.Err())
	}
}
