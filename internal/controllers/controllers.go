// Package controllers registers every managed kind's reconciler with a
// controller-runtime manager. It is the one list of kinds infraplane runs;
// `infraplane up`, `infraplane controller` and the tests all use it.
package controllers

import (
	"context"
	"slices"
	"time"

	"google.golang.org/api/option"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bigtablev1 "github.com/infraplane/infraplane/api/bigtable/v1alpha1"
	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
	postgresv1 "github.com/infraplane/infraplane/api/postgres/v1alpha1"
	pubsubv1 "github.com/infraplane/infraplane/api/pubsub/v1alpha1"
	spannerv1 "github.com/infraplane/infraplane/api/spanner/v1alpha1"
	storagev1 "github.com/infraplane/infraplane/api/storage/v1alpha1"

	"github.com/infraplane/infraplane/internal/blueprint"
	"github.com/infraplane/infraplane/internal/breakglass"
	"github.com/infraplane/infraplane/internal/cloud/bigtable"
	"github.com/infraplane/infraplane/internal/cloud/postgres"
	"github.com/infraplane/infraplane/internal/cloud/pubsub"
	"github.com/infraplane/infraplane/internal/cloud/spanner"
	"github.com/infraplane/infraplane/internal/cloud/storage"
	"github.com/infraplane/infraplane/internal/gitops"
	"github.com/infraplane/infraplane/internal/importer"
	"github.com/infraplane/infraplane/internal/managed"
	"github.com/infraplane/infraplane/internal/provider"
)

// DefaultMinResyncInterval is the CLI's floor for spec.resyncInterval:
// ten seconds is a drift check as often as anyone needs one, and bounds
// what one team's objects can take of the workers all teams share.
const DefaultMinResyncInterval = 10 * time.Second

// Options configure all controllers.
type Options struct {
	// ResyncInterval is the default drift-check interval.
	ResyncInterval time.Duration
	// MinResyncInterval is the shortest spec.resyncInterval honoured
	// (zero: no floor; the CLI's default is DefaultMinResyncInterval).
	MinResyncInterval time.Duration
	// Concurrency is the number of objects of each kind reconciled at once.
	Concurrency int
	// CloudQPS limits cloud calls per ProviderConfig and service (0: none).
	CloudQPS float64
	// CloudBurst is the burst for CloudQPS.
	CloudBurst int
	// CloudReadTimeout and CloudWriteTimeout bound one cloud call (0:
	// provider.DefaultReadTimeout, DefaultWriteTimeout).
	CloudReadTimeout, CloudWriteTimeout time.Duration
	// IAMCredentialsEndpoint is the IAM Credentials API that mints the
	// tokens of ProviderConfigs that impersonate a service account ("":
	// Google's); IAMCredentialsOptions are extra client options for
	// calling it (default: the controller's own credentials). See
	// docs/cloud-identity.md.
	IAMCredentialsEndpoint string
	IAMCredentialsOptions  []option.ClientOption
	// Pauses are extra pause policies (break-glass plugs in here).
	Pauses []managed.PauseFunc
	// Auditor records every cloud write (the audit ledger).
	Auditor managed.Auditor
	// GitOps configures the GitSource syncer; nil CacheDir disables it.
	GitOps gitops.Options
	// BreakGlass configures the break-glass controller and webhook (Kinds,
	// Desired and the ledger are filled in here). It needs the syncer.
	BreakGlass breakglass.Options
	// Ledger, if set, records the break-glass life cycle.
	Ledger breakglass.Recorder
	// EditLookup, if set, learns the break-glass policy once it exists,
	// for the direct-edit ledger hook.
	EditLookup *BreakGlassLookup
}

// ManagedKinds are every managed kind, by kind name (what a break-glass can
// cover).
func ManagedKinds() breakglass.Kinds {
	kinds, closeClients := managedKinds()
	defer closeClients()
	out := breakglass.Kinds{}
	for _, k := range kinds {
		gvk := k.gvk()
		out[gvk.Kind] = gvk
	}
	return out
}

// RefKinds are the managed kinds that references (xxxRef: {name}) may
// point at, for the syncer's and validate's reference checks.
var RefKinds = map[string]schema.GroupVersionKind{
	"Topic":           pubsubv1.GroupVersion.WithKind("Topic"),
	"Bucket":          storagev1.GroupVersion.WithKind("Bucket"),
	"SpannerInstance": spannerv1.GroupVersion.WithKind("SpannerInstance"),
	"Database":        postgresv1.GroupVersion.WithKind("Database"),
	"Role":            postgresv1.GroupVersion.WithKind("Role"),
}

// Setup registers every kind. The returned func releases cloud clients;
// call it after the manager stopped.
func Setup(mgr ctrl.Manager, opts Options) (func(), error) {
	providers := provider.NewResolver(mgr.GetClient(), provider.Options{
		QPS: opts.CloudQPS, Burst: opts.CloudBurst, ReadTimeout: opts.CloudReadTimeout, WriteTimeout: opts.CloudWriteTimeout,
		IAMCredentialsEndpoint: opts.IAMCredentialsEndpoint, IAMCredentialsOptions: opts.IAMCredentialsOptions,
	})
	mopts := managed.Options{ResyncInterval: opts.ResyncInterval, MinResyncInterval: opts.MinResyncInterval, Concurrency: opts.Concurrency, Pauses: opts.Pauses, Auditor: opts.Auditor}
	gitopsOn := opts.GitOps.CacheDir != ""
	var policy *breakglass.Policy
	if gitopsOn {
		// Break-glass is about objects git manages: it comes with the syncer.
		policy = breakglass.NewPolicy(mgr)
		mopts.Pauses = append(slices.Clone(mopts.Pauses), policy.Pause)
		mopts.Holds = append(mopts.Holds, policy.Hold)
		mopts.Wake = append(mopts.Wake, policy.Wake())
	}

	kinds, closeClients := managedKinds()
	if err := provider.SetupStatus(mgr); err != nil {
		return closeClients, err
	}
	for _, k := range kinds {
		if err := k.setup(mgr, providers, mopts); err != nil {
			return closeClients, err
		}
	}
	bopts := blueprint.Options{Concurrency: opts.Concurrency}
	if gitopsOn {
		// A break-glass on an instance covers its children: the instance
		// controller leaves them alone while it is open or holds them.
		bopts.Shield = policy.Shield
		bopts.Wake = []blueprint.Wake{{Source: &corev1alpha1.BreakGlass{}, Map: policy.InstancesOf}}
	}
	blueprints, err := blueprint.Setup(mgr, bopts)
	if err != nil {
		return closeClients, err
	}
	if gitopsOn {
		g := opts.GitOps
		if g.RefKinds == nil {
			g.RefKinds = RefKinds
		}
		g.Exclude = policy.Exclude
		syncer, err := gitops.SetupSyncer(mgr, g)
		if err != nil {
			return closeClients, err
		}
		b := opts.BreakGlass
		b.Kinds = ManagedKinds()
		b.Desired = syncer.Desired
		b.Rendered = blueprints.DryRunChild
		b.Ledger = opts.Ledger
		b.Exempt = append(append([]string{ControllerUser}, breakglass.SystemUsers...), b.Exempt...)
		// The break-glass webhook server also refuses Blueprints whose
		// expressions do not compile.
		b.Extra = append(slices.Clone(b.Extra), blueprint.Webhook(mgr.GetAPIReader()))
		// Objects whose namespace may not use its ProviderConfig, or that
		// reference cloud names outside its projects: refused when applied
		// (the reconciler refuses them anyway, before any cloud call).
		exempt := slices.Clone(b.Exempt)
		b.Extra = append(b.Extra, breakglass.ExtraWebhook{
			Path:    managed.ConfinePath,
			Handler: managed.ConfineWebhook(providers, mgr.GetClient()),
			Register: func(ctx context.Context, c client.Client, ep breakglass.Endpoint) error {
				return managed.RegisterConfineWebhook(ctx, c, ep.ClientConfig(managed.ConfinePath), managedGroups(), exempt)
			},
		})
		// And GitSources changed beyond a sync request by someone RBAC does
		// not let configure them, or aimed at another namespace.
		b.Extra = append(b.Extra, breakglass.ExtraWebhook{
			Path:    gitops.ValidateGitSourcePath,
			Handler: gitops.ValidateGitSource(mgr.GetClient(), g.PlatformNamespace),
			Register: func(ctx context.Context, c client.Client, ep breakglass.Endpoint) error {
				return gitops.RegisterGitSourceWebhook(ctx, c, ep.ClientConfig(gitops.ValidateGitSourcePath), exempt)
			},
		})
		if err := breakglass.Setup(mgr, policy, b); err != nil {
			return closeClients, err
		}
		opts.EditLookup.set(policy)
	}
	return closeClients, nil
}

// Planners returns a read-only cloud planner per managed kind, for `plan`;
// the func releases their cloud clients.
func Planners() ([]managed.Planner, func()) {
	kinds, closeClients := managedKinds()
	out := make([]managed.Planner, len(kinds))
	for i, k := range kinds {
		out[i] = k.planner()
	}
	return out, closeClients
}

// ImportOptions are what some kinds' listers need besides a ProviderConfig.
type ImportOptions struct {
	// BigtableInstances to list tables of ("projects/P/instances/I" or an
	// instance id in the ProviderConfig's project).
	BigtableInstances []string
}

// Importers returns the cloud listers of `infraplane import`, one per kind
// that supports import; the func releases their cloud clients.
func Importers(o ImportOptions) ([]importer.Lister, func()) {
	var out []importer.Lister
	var closers []func()
	ps := pubsub.NewClients()
	out = append(out, pubsub.TopicLister{Clients: ps}, pubsub.SubscriptionLister{Clients: ps})
	closers = append(closers, ps.Close)
	st := storage.NewClients()
	out = append(out, storage.BucketLister{Clients: st})
	closers = append(closers, st.Close)
	pg := postgres.NewClients()
	out = append(out, postgres.DatabaseLister(pg), postgres.RoleLister(pg))
	closers = append(closers, pg.Close)
	sp := spanner.NewClients()
	out = append(out, spanner.InstanceLister{Clients: sp}, spanner.DatabaseLister{Clients: sp})
	closers = append(closers, sp.Close)
	// Tables are listed per instance: the CLI sets Instances from --bigtable-instance.
	bt := bigtable.NewClients()
	out = append(out, bigtable.NewTableLister(bt, o.BigtableInstances))
	closers = append(closers, bt.Close)
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	return out, closeAll
}

// What the generic reconciler (internal/managed) does to the objects of
// each kind below: read and watch them, patch the finalizer in and out,
// write status. A new kind adds its resources here (and to
// internal/blueprint's children and config/rbac/people.yaml).
//
// +kubebuilder:rbac:groups=pubsub.infraplane.dev,resources=topics;subscriptions,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=pubsub.infraplane.dev,resources=topics/status;subscriptions/status,verbs=get;patch
// +kubebuilder:rbac:groups=storage.infraplane.dev,resources=buckets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=storage.infraplane.dev,resources=buckets/status,verbs=get;patch
// +kubebuilder:rbac:groups=spanner.infraplane.dev,resources=spannerinstances;spannerdatabases,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=spanner.infraplane.dev,resources=spannerinstances/status;spannerdatabases/status,verbs=get;patch
// +kubebuilder:rbac:groups=bigtable.infraplane.dev,resources=bigtabletables,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=bigtable.infraplane.dev,resources=bigtabletables/status,verbs=get;patch
// +kubebuilder:rbac:groups=postgres.infraplane.dev,resources=databases;roles,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=postgres.infraplane.dev,resources=databases/status;roles/status,verbs=get;patch

// managedKinds is the one list of managed kinds.
func managedKinds() ([]registration, func()) {
	ps := pubsub.NewClients()
	bt := bigtable.NewClients()
	pg := postgres.NewClients()
	sp := spanner.NewClients()
	st := storage.NewClients()
	return []registration{
		kind[*pubsubv1.Topic]{pubsub.TopicKind(ps), pubsubv1.GroupVersion},
		kind[*pubsubv1.Subscription]{pubsub.SubscriptionKind(ps), pubsubv1.GroupVersion},
		kind[*storagev1.Bucket]{storage.BucketKind(st), storagev1.GroupVersion},
		kind[*spannerv1.SpannerInstance]{spanner.InstanceKind(sp), spannerv1.GroupVersion},
		kind[*spannerv1.SpannerDatabase]{spanner.DatabaseKind(sp), spannerv1.GroupVersion},
		kind[*bigtablev1.BigtableTable]{bigtable.TableKind(bt), bigtablev1.GroupVersion},
		withManager{kind[*postgresv1.Database]{postgres.DatabaseKind(pg), postgresv1.GroupVersion}, pg.Bind},
		withManager{kind[*postgresv1.Role]{postgres.RoleKind(pg), postgresv1.GroupVersion}, pg.BindRole},
	}, func() { ps.Close(); st.Close(); sp.Close(); bt.Close(); pg.Close() }
}

// registration hides each kind's Go type behind what this package needs.
type registration interface {
	setup(mgr ctrl.Manager, providers *provider.Resolver, opts managed.Options) error
	planner() managed.Planner
	gvk() schema.GroupVersionKind
}

type kind[T managed.Object] struct {
	k  managed.Kind[T]
	gv schema.GroupVersion
}

func (k kind[T]) gvk() schema.GroupVersionKind { return k.gv.WithKind(k.k.Name) }

func (k kind[T]) setup(mgr ctrl.Manager, providers *provider.Resolver, opts managed.Options) error {
	return managed.Setup(mgr, k.k, providers, opts)
}

func (k kind[T]) planner() managed.Planner { return k.k.Planner(k.gvk().GroupKind()) }

// withManager is a kind whose cloud client also needs the manager (the
// PostgreSQL kinds read and create Secrets) and may add watches.
type withManager struct {
	registration
	bind func(mgr ctrl.Manager, opts *managed.Options)
}

func (w withManager) setup(mgr ctrl.Manager, providers *provider.Resolver, opts managed.Options) error {
	w.bind(mgr, &opts)
	return w.registration.setup(mgr, providers, opts)
}

// managedGroups are the API groups of the managed kinds.
func managedGroups() []string {
	var out []string
	for _, gvk := range ManagedKinds() {
		if !slices.Contains(out, gvk.Group) {
			out = append(out, gvk.Group)
		}
	}
	slices.Sort(out)
	return out
}
