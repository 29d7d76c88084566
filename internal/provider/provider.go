// Package provider resolves which cloud project, credentials and endpoints
// a namespace's objects use (its ProviderConfig), and turns them into
// Google Cloud client options with call metrics and a client-side rate
// limit.
package provider

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/time/rate"
	"google.golang.org/api/option"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1alpha1 "github.com/infraplane/infraplane/api/core/v1alpha1"
)

// Config is a resolved ProviderConfig.
type Config struct {
	// Name of the ProviderConfig.
	Name string
	// ProjectID is the GCP project.
	ProjectID string
	// Credentials says how to authenticate: ApplicationDefault (also when
	// empty), None, or an identity of the ProviderConfig's own
	// (ImpersonateServiceAccount, SecretKey), which never falls back to
	// the controller's credentials.
	Credentials corev1alpha1.CredentialsSource
	// ServiceAccount is the account impersonated (ImpersonateServiceAccount).
	ServiceAccount string
	// SecretRef names the Secret holding the service-account key
	// (SecretKey).
	SecretRef *corev1alpha1.SecretReference
	// Endpoints are per-service overrides.
	Endpoints corev1alpha1.Endpoints
	// Postgres is the PostgreSQL server of the Database and Role kinds
	// (nil: none configured).
	Postgres *corev1alpha1.PostgresServer
	// ReferenceProjects are the projects besides ProjectID that objects may
	// reference (never write to).
	ReferenceProjects []string
	// ProjectNumber is ProjectID's number, when the ProviderConfig says
	// it ("" otherwise).
	ProjectNumber string
	// Reader is what resolved this config; kinds read the Secrets the
	// config refers to (PostgreSQL credentials) through it.
	Reader client.Reader

	// version changes whenever the ProviderConfig changes, so cached cloud
	// clients built from an older version are not reused.
	version string
	limits  *limits
	// tokens of the named identity (nil otherwise), shared by all clients
	// of this ProviderConfig name while the identity stays the same.
	tokens oauth2.TokenSource
}

// Key identifies this exact version of the config, for caching clients.
// It names the credentials too, so that clients are never reused across
// identities even where the version does not change (configs read from
// files, without a resourceVersion).
func (c *Config) Key() string {
	k := c.Name + "@" + c.version
	switch c.Credentials {
	case corev1alpha1.CredentialsImpersonate, corev1alpha1.CredentialsSecretKey:
		k += "#" + identityKey(&corev1alpha1.Credentials{Source: c.Credentials, ServiceAccount: c.ServiceAccount, SecretRef: c.SecretRef})
	case corev1alpha1.CredentialsNone:
		k += "#none"
	}
	return k
}

// Options configure a Resolver.
type Options struct {
	// QPS limits cloud API calls per ProviderConfig and service; 0 means
	// no limit (local emulators).
	QPS float64
	// Burst is the token-bucket size for QPS.
	Burst int
	// ReadTimeout and WriteTimeout bound one cloud call (one attempt)
	// that reads or writes, unless the caller's deadline is sooner; 0:
	// DefaultReadTimeout, DefaultWriteTimeout. A call that runs out of
	// it opens the endpoint's circuit breaker.
	ReadTimeout, WriteTimeout time.Duration
	// IAMCredentialsEndpoint is the base URL of the IAM Credentials API
	// that mints the tokens of ImpersonateServiceAccount ProviderConfigs
	// ("": Google's, https://iamcredentials.googleapis.com/).
	IAMCredentialsEndpoint string
	// IAMCredentialsOptions are extra client options for calling it: by
	// default the controller calls it with its own Application Default
	// Credentials; tests pass option.WithoutAuthentication() or
	// option.WithTokenSource for an in-process stand-in.
	IAMCredentialsOptions []option.ClientOption
}

// The resolver reads through the manager's cache: namespaces (their
// provider-config annotation) and ProviderConfigs, all of them.
//
// +kubebuilder:rbac:groups=infraplane.dev,resources=providerconfigs,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Resolver finds the ProviderConfig of a namespace.
type Resolver struct {
	reader client.Reader
	opts   Options

	iam *iamClient

	mu        sync.Mutex
	recovered []func(providerConfig, service string)
	limits    map[string]*limits      // by ProviderConfig name: survives config edits
	tokens    map[string]cachedTokens // by ProviderConfig name: survives edits that keep the identity
}

// NewResolver returns a resolver that reads through reader (a cache).
func NewResolver(reader client.Reader, opts Options) *Resolver {
	return &Resolver{
		reader: reader, opts: opts, limits: map[string]*limits{}, tokens: map[string]cachedTokens{},
		iam: &iamClient{endpoint: opts.IAMCredentialsEndpoint, opts: opts.IAMCredentialsOptions},
	}
}

// OnRecovered registers fn to be called when a ProviderConfig's endpoint
// for service answers again after its circuit breaker was open.
func (r *Resolver) OnRecovered(fn func(providerConfig, service string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recovered = append(r.recovered, fn)
}

// ForNamespace returns the ProviderConfig that namespace ns uses: the one
// its infraplane.dev/provider-config annotation names, else "default".
func (r *Resolver) ForNamespace(ctx context.Context, ns string) (*Config, error) {
	name := corev1alpha1.DefaultProviderConfig
	how := fmt.Sprintf("the default ProviderConfig %q", name)
	var namespace corev1.Namespace
	if err := r.reader.Get(ctx, types.NamespacedName{Name: ns}, &namespace); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading namespace %q: %w", ns, err)
	}
	if v := namespace.Annotations[corev1alpha1.NamespaceAnnotation]; v != "" {
		name = v
		how = fmt.Sprintf("ProviderConfig %q (annotation %s on namespace %q)", name, corev1alpha1.NamespaceAnnotation, ns)
	}
	var pc corev1alpha1.ProviderConfig
	if err := r.reader.Get(ctx, types.NamespacedName{Name: name}, &pc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("namespace %q uses %s, which does not exist: create it (kubectl apply -f examples/quickstart/providerconfig.yaml shows one) or annotate the namespace with %s=<name>", ns, how, corev1alpha1.NamespaceAnnotation)
		}
		return nil, fmt.Errorf("reading ProviderConfig %q: %w", name, err)
	}
	if pc.Spec.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(pc.Spec.NamespaceSelector)
		if err != nil {
			return nil, fmt.Errorf("ProviderConfig %q: spec.namespaceSelector: %w", name, err)
		}
		if !sel.Matches(labels.Set(namespace.Labels)) {
			return nil, &NotPermittedError{fmt.Sprintf("namespace %q may not use %s: its spec.namespaceSelector (%s) does not select the namespace; no cloud call is made (the platform team chooses which namespaces use which ProviderConfig)", ns, how, sel)}
		}
	}
	return r.fromObject(&pc), nil
}

// NotPermittedError is a refusal of the ProviderConfig's policy: the
// namespace may not use it, or a name is outside its projects.
type NotPermittedError struct{ Msg string }

func (e *NotPermittedError) Error() string { return e.Msg }

func (r *Resolver) fromObject(pc *corev1alpha1.ProviderConfig) *Config {
	creds := pc.Spec.Credentials.Source
	if creds == "" {
		creds = corev1alpha1.CredentialsApplicationDefault
	}
	c := &Config{
		Name:           pc.Name,
		ProjectID:      pc.Spec.ProjectID,
		Credentials:    creds,
		ServiceAccount: pc.Spec.Credentials.ServiceAccount,
		SecretRef:      pc.Spec.Credentials.SecretRef,
		Endpoints:      pc.Spec.Endpoints,
		Postgres:       pc.Spec.Postgres,
		Reader:         r.reader,

		ReferenceProjects: pc.Spec.ReferenceProjects,
		ProjectNumber:     pc.Spec.ProjectNumber,
		version:           pc.ResourceVersion,
		limits:            r.limitsFor(pc.Name),
	}
	if namedIdentity(creds) {
		c.tokens = r.tokenSourceFor(pc, c)
	}
	return c
}

func (r *Resolver) limitsFor(name string) *limits {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.limits[name]
	if !ok {
		l = &limits{qps: r.opts.QPS, burst: r.opts.Burst, by: map[string]*rate.Limiter{}, readTimeout: r.opts.ReadTimeout, writeTimeout: r.opts.WriteTimeout}
		l.breakers.name = name
		l.breakers.closed = func(service string) {
			r.mu.Lock()
			fns := slices.Clone(r.recovered)
			r.mu.Unlock()
			for _, fn := range fns {
				fn(name, service)
			}
		}
		r.limits[name] = l
	}
	return l
}

// limits holds one token bucket and one circuit breaker per service of
// one ProviderConfig (kept across the ProviderConfig's versions).
type limits struct {
	qps      float64
	burst    int
	mu       sync.Mutex
	by       map[string]*rate.Limiter
	breakers breakers

	readTimeout, writeTimeout time.Duration
}

// timeout is the deadline of one call that reads or writes.
func (l *limits) timeout(read bool) time.Duration {
	switch {
	case read && l != nil && l.readTimeout > 0:
		return l.readTimeout
	case read:
		return DefaultReadTimeout
	case l != nil && l.writeTimeout > 0:
		return l.writeTimeout
	}
	return DefaultWriteTimeout
}

func (l *limits) breakersOf() *breakers {
	if l == nil {
		return nil
	}
	return &l.breakers
}

func (l *limits) forService(service string) *rate.Limiter {
	if l == nil || l.qps <= 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.by[service]
	if !ok {
		burst := l.burst
		if burst <= 0 {
			burst = int(l.qps) + 1
		}
		lim = rate.NewLimiter(rate.Limit(l.qps), burst)
		l.by[service] = lim
	}
	return lim
}

// ByName returns the ProviderConfig called name.
func (r *Resolver) ByName(ctx context.Context, name string) (*Config, error) {
	var pc corev1alpha1.ProviderConfig
	if err := r.reader.Get(ctx, types.NamespacedName{Name: name}, &pc); err != nil {
		return nil, fmt.Errorf("reading ProviderConfig %q: %w", name, err)
	}
	return r.fromObject(&pc), nil
}

// WithProject returns a copy of c for another project (same credentials
// and endpoints).
func (c *Config) WithProject(project string) *Config {
	cp := *c
	cp.ProjectID = project
	cp.version += "/" + project
	return &cp
}

// ProjectOf returns the project of a full cloud name
// ("projects/P/topics/T", "//pubsub.googleapis.com/projects/P/…"), or ""
// when the name carries none (bucket names are global, PostgreSQL names
// bare).
func ProjectOf(name string) string {
	if i := strings.Index(name, "projects/"); i >= 0 && (i == 0 || name[i-1] == '/') {
		rest := name[i+len("projects/"):]
		p, _, _ := strings.Cut(rest, "/")
		if p == "_" {
			return "" // a global name (buckets)
		}
		return p
	}
	return ""
}

// Confine checks that a cloud name is in the config's project: the
// resource itself (own true) must be in ProjectID; a resource it only
// references may also be in one of ReferenceProjects. It returns a
// NotPermittedError naming field, the project and the ProviderConfig.
func (c *Config) Confine(field, name string, own bool) error {
	p := ProjectOf(name)
	if p == "" || p == c.ProjectID {
		return nil
	}
	if !own && slices.Contains(c.ReferenceProjects, p) {
		return nil
	}
	if own {
		return &NotPermittedError{fmt.Sprintf("%s: %s is in project %q, but ProviderConfig %q manages resources in project %q only; nothing was created, adopted or changed", field, name, p, c.Name, c.ProjectID)}
	}
	allowed := append([]string{c.ProjectID}, c.ReferenceProjects...)
	return &NotPermittedError{fmt.Sprintf("%s: %s is in project %q, which ProviderConfig %q does not allow references to (it allows %s): ask the platform team to list the project in spec.referenceProjects if this is meant; no cloud call was made", field, name, p, c.Name, strings.Join(allowed, ", "))}
}
