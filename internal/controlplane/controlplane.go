package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	logsapi "k8s.io/component-base/logs/api/v1"
)

func init() {
	// Several servers per process (tests, restarts) must not fail when
	// logging settings are re-applied unchanged. Set once, here, so it never
	// races with a reader.
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged
}

// Options configures Start.
type Options struct {
	DataDir     string       // everything persisted here: DataDir/etcd, DataDir/pki, DataDir/kubeconfig
	BindAddress string       // default "127.0.0.1"
	Port        int          // secure port; 0 picks a free port
	Logger      *slog.Logger // nil means slog.Default(); Kubernetes' own logs arrive at debug level, errors at error level
	// OnWrite, if set, receives every completed write to an object of an
	// infraplane API group, with the authenticated user.
	OnWrite WriteHook
	// EtcdReadyTimeout is how long etcd may take to become ready before
	// its data is taken for damaged (default 30 s).
	EtcdReadyTimeout time.Duration
	// Uncached lists resources ("topics.pubsub.infraplane.dev") the API
	// server serves from etcd without a watch cache (--watch-cache-sizes
	// RESOURCE#0; it applies to custom resources too). Measured trade-off
	// in docs/benchmarks.md, "Issue 17: memory per object and the scale run".
	Uncached []string
	// BeforeRoles makes Start return while the API server still creates
	// its default RBAC roles (its rbac/bootstrap-roles hook waits a second
	// before its first try, then reconciles some 100 roles and bindings:
	// 1–2 s of a start). The admin identity (system:masters) needs none of
	// them, so the caller can install CRDs meanwhile; it must call
	// WaitReady before anyone else is let in.
	BeforeRoles bool
}

// rbacBootstrapCheck is the readiness check of the API server's hook that
// creates the default ClusterRoles and bindings (Options.BeforeRoles).
const rbacBootstrapCheck = "poststarthook/rbac/bootstrap-roles"

// ControlPlane is a running embedded API server with its etcd and controllers.
type ControlPlane struct {
	dataDir    string
	url        string
	pki        *pki
	kubeconfig string
	loopback   *rest.Config
	log        *slog.Logger
	quiet      *quietHandler // this instance's klog/etcd log filter
	unlock     func()        // releases the data dir lock

	etcd         *embed.Etcd
	etcdURL      string
	controllers  *controllers
	serverCancel context.CancelFunc
	serverDone   chan struct{} // closed when the API server's Run returned
	serverErr    error         // valid after serverDone is closed

	stopping *atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

const (
	readyTimeout = 2 * time.Minute
	clusterName  = "infraplane"
)

// Start runs etcd, the API server and the in-process controllers, and returns
// once /readyz reports ok and the default namespace exists. ctx bounds start-up
// only; the control plane runs until Stop.
//
// klog is process-global: Start routes it to opts.Logger.
func Start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	if opts.DataDir == "" {
		return nil, errors.New("controlplane: DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	if opts.BindAddress == "" {
		opts.BindAddress = "127.0.0.1"
	}
	bindIP := net.ParseIP(opts.BindAddress)
	if bindIP == nil {
		return nil, fmt.Errorf("controlplane: BindAddress %q is not an IP address", opts.BindAddress)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	begin := time.Now()

	stopping := &atomic.Bool{}
	quiet := &quietHandler{next: logger.Handler(), stopping: stopping}
	if err := EnsureDataDir(dataDir, logger); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	defer func() {
		if err != nil {
			unlock() // idempotent
		}
	}()
	servingIPs := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if !bindIP.IsUnspecified() && !bindIP.IsLoopback() {
		servingIPs = append(servingIPs, bindIP)
	}
	p, err := ensurePKI(filepath.Join(dataDir, "pki"), servingIPs, []string{"localhost"})
	if err != nil {
		return nil, fmt.Errorf("controlplane: certificates: %w", err)
	}
	admissionConfig, err := writeAdmissionConfig(p)
	if err != nil {
		return nil, fmt.Errorf("controlplane: admission configuration: %w", err)
	}

	// Bind the API port first: a taken port should fail fast, before etcd.
	ln, err := net.Listen("tcp", net.JoinHostPort(opts.BindAddress, strconv.Itoa(opts.Port)))
	if err != nil {
		return nil, fmt.Errorf("controlplane: listen: %w", err)
	}
	defer func() {
		if err != nil {
			ln.Close() //nolint:errcheck // already failing; may be closed by the server
		}
	}()
	urlHost := "127.0.0.1"
	if bindIP.To4() == nil {
		urlHost = "::1"
	}
	if !bindIP.IsUnspecified() {
		urlHost = bindIP.String()
	}
	c := &ControlPlane{
		dataDir:    dataDir,
		url:        "https://" + net.JoinHostPort(urlHost, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)),
		pki:        p,
		kubeconfig: filepath.Join(dataDir, "kubeconfig"),
		log:        logger,
		quiet:      quiet,
		unlock:     unlock,
		stopping:   stopping,
		serverDone: make(chan struct{}),
	}
	defer func() {
		if err != nil {
			c.shutdown(context.Background()) //nolint:errcheck // report the start error instead
		}
	}()

	// Quiet Kubernetes before any of it runs; shutdown detaches again.
	attachKlog(quiet)
	if err := checkEtcdData(dataDir); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	readyTimeout := opts.EtcdReadyTimeout
	if readyTimeout <= 0 {
		readyTimeout = 30 * time.Second // a healthy etcd is ready in about a second
	}
	c.etcd, c.etcdURL, err = startEtcd(ctx, filepath.Join(dataDir, "etcd"), p, zapToSlog(quiet), readyTimeout)
	if errors.Is(err, errEtcdNotReady) {
		return nil, fmt.Errorf("controlplane: %w", damagedData(dataDir, err.Error()+" (a write-ahead log in member/wal cut short, or log and data out of step)"))
	}
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	etcdReady := time.Since(begin)
	// etcd reports fatal serving errors here; the channel closes with Close.
	go func(errc <-chan error) {
		for err := range errc {
			if !c.stopping.Load() {
				logger.Error("etcd failed", "err", err)
			}
		}
	}(c.etcd.Err())

	// The server lives on its own context: ctx is only for start-up.
	serverCtx, cancel := context.WithCancel(context.Background())
	c.serverCancel = cancel
	built := time.Now()
	srv, err := newAPIServer(serverCtx, p, ln, c.etcdURL, admissionConfig, opts.OnWrite, opts.Uncached)
	if err != nil {
		close(c.serverDone)
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	prepared, err := srv.PrepareRun()
	if err != nil {
		close(c.serverDone)
		return nil, fmt.Errorf("controlplane: preparing API server: %w", err)
	}
	logger.Debug("API server built", "took", time.Since(built))
	c.loopback = rest.CopyConfig(srv.GenericAPIServer.LoopbackClientConfig)
	go func() {
		defer close(c.serverDone)
		c.serverErr = prepared.Run(serverCtx)
		if !c.stopping.Load() {
			if c.serverErr == nil {
				c.serverErr = errors.New("API server exited")
			}
			logger.Error("API server stopped unexpectedly", "err", c.serverErr)
		}
	}()

	var notYet []string
	if opts.BeforeRoles {
		notYet = []string{rbacBootstrapCheck}
	}
	if err := c.waitReady(ctx, notYet...); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	apiReady := time.Since(begin)

	c.controllers, err = startControllers(serverCtx, c.loopback)
	if err != nil {
		return nil, fmt.Errorf("controlplane: controllers: %w", err)
	}
	if err := c.writeKubeconfig(c.kubeconfig, p.admin); err != nil {
		return nil, fmt.Errorf("controlplane: kubeconfig: %w", err)
	}
	logger.Debug("control plane ready", "url", c.url, "etcd", etcdReady, "api", apiReady, "total", time.Since(begin))
	return c, nil
}

// EnsureDataDir creates dir (mode 0700), or makes an existing one 0700 when
// others may read or enter it: it holds the CA keys, etcd's data (every
// Secret) and the admin kubeconfig. The change is logged as a warning
// naming the old mode.
func EnsureDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if old := fi.Mode().Perm(); old&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data dir %s has mode %#o, open to other accounts, and could not be made 0700 (chmod 700 it, or pick another --data-dir): %w", dir, old, err)
		}
		log.Warn("data dir was open to other accounts; made it 0700", "dir", dir, "oldMode", fmt.Sprintf("%#o", old))
	}
	return nil
}

// waitReady polls /readyz with the admin identity (which also proves client
// certificates work), not counting the checks named in notYet, then makes
// sure the default namespace exists.
func (c *ControlPlane) waitReady(ctx context.Context, notYet ...string) error {
	client, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	if err := c.pollReadyz(ctx, client, notYet); err != nil {
		return err
	}
	// The system-namespaces controller creates it too, but possibly after
	// /readyz is green; creating it here removes the race for callers.
	_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: metav1.NamespaceDefault},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating default namespace: %w", err)
	}
	return nil
}

// WaitReady waits until /readyz passes every check: after a Start with
// BeforeRoles, until the default RBAC roles exist. Without BeforeRoles it
// returns at once.
func (c *ControlPlane) WaitReady(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	if err := c.pollReadyz(ctx, client, nil); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	return nil
}

// pollReadyz polls /readyz, excluding the checks in notYet, until it is
// green; each failed poll's failing checks go to the debug log (what a
// start waits for).
func (c *ControlPlane) pollReadyz(ctx context.Context, client kubernetes.Interface, notYet []string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		var status int
		req := client.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "1")
		for _, check := range notYet {
			req = req.Param("exclude", check)
		}
		res := req.Do(ctx).StatusCode(&status)
		if status == http.StatusOK {
			return nil
		}
		last = res.Error()
		if body, _ := res.Raw(); len(body) > 0 {
			c.log.Debug("API server not ready yet", "failing", failingChecks(body))
		}
		select {
		case <-c.serverDone:
			return fmt.Errorf("API server stopped during start-up: %w", c.serverErr)
		case <-ctx.Done():
			return fmt.Errorf("API server not ready: %w (last: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// RESTConfig returns a new client configuration with the admin identity
// (CN=infraplane-admin, O=system:masters).
func (c *ControlPlane) RESTConfig() *rest.Config {
	return c.restConfigFor(c.pki.admin)
}

func (c *ControlPlane) restConfigFor(kp *keyPair) *rest.Config {
	return &rest.Config{
		Host: c.url,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   append([]byte(nil), c.pki.ca.certPEM...),
			CertData: append([]byte(nil), kp.certPEM...),
			KeyData:  append([]byte(nil), kp.keyPEM...),
		},
		// Local server with API priority and fairness: client-side throttling
		// at client-go's default of 5 QPS only slows callers down.
		QPS:   100,
		Burst: 200,
	}
}

// KubeconfigPath is the admin kubeconfig, rewritten on every start.
func (c *ControlPlane) KubeconfigPath() string { return c.kubeconfig }

// URL is the API server's base URL, e.g. https://127.0.0.1:6443.
func (c *ControlPlane) URL() string { return c.url }

// DataDir is the absolute data directory.
func (c *ControlPlane) DataDir() string { return c.dataDir }

// CACertPEM is the CA that signed the serving certificate.
func (c *ControlPlane) CACertPEM() []byte { return append([]byte(nil), c.pki.ca.certPEM...) }

// Done is closed when the API server has stopped, after Stop or on failure.
func (c *ControlPlane) Done() <-chan struct{} { return c.serverDone }

// Err reports why the API server stopped; nil while running or after a clean Stop.
func (c *ControlPlane) Err() error {
	select {
	case <-c.serverDone:
		return c.serverErr
	default:
		return nil
	}
}

// IdentityRESTConfig returns a client configuration authenticated as user
// with groups, by a new client certificate from the client CA. infraplane's
// own controllers use one, so their writes are told apart from people's.
func (c *ControlPlane) IdentityRESTConfig(user string, groups []string) (*rest.Config, error) {
	if user == "" {
		return nil, errors.New("controlplane: user is required")
	}
	kp, err := issue(clientTemplate(user, groups), c.pki.clientCA, leafValidity)
	if err != nil {
		return nil, err
	}
	return c.restConfigFor(kp), nil
}

// WriteUserKubeconfig writes a kubeconfig (mode 0600) for user with groups,
// authenticated by a new client certificate from the client CA. What the user
// may do is up to RBAC.
func (c *ControlPlane) WriteUserKubeconfig(path, user string, groups []string) error {
	if user == "" {
		return errors.New("controlplane: user is required")
	}
	kp, err := issue(clientTemplate(user, groups), c.pki.clientCA, leafValidity)
	if err != nil {
		return err
	}
	return c.writeKubeconfig(path, kp)
}

func (c *ControlPlane) writeKubeconfig(path string, kp *keyPair) error {
	user := kp.cert.Subject.CommonName
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{
		Server:                   c.url,
		CertificateAuthorityData: c.pki.ca.certPEM,
	}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{
		ClientCertificateData: kp.certPEM,
		ClientKeyData:         kp.keyPEM,
	}
	cfg.Contexts[clusterName] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: user}
	cfg.CurrentContext = clusterName
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// ShuttingDown says that the process is stopping what talks to the API
// server (controllers, webhooks) before Stop: the errors the API server
// then logs (webhook calls cancelled, handlers timing out) are expected
// and go to debug, as they do during Stop.
func (c *ControlPlane) ShuttingDown() { c.stopping.Store(true) }

// Stop shuts down in dependency order: controllers (they talk to the API
// server), the API server (it talks to etcd), then etcd. It is safe to call
// more than once; later calls return the first result.
func (c *ControlPlane) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() {
		began := time.Now()
		c.stopErr = c.shutdown(ctx)
		c.log.Debug("control plane stopped", "took", time.Since(began))
	})
	return c.stopErr
}

// shutdown tears down whatever was started; also used by a failing Start.
func (c *ControlPlane) shutdown(ctx context.Context) error {
	c.stopping.Store(true)
	var errs []error
	if c.controllers != nil {
		if err := c.controllers.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if c.serverCancel != nil {
		c.serverCancel()
		select {
		case <-c.serverDone:
			if c.serverErr != nil {
				errs = append(errs, fmt.Errorf("API server: %w", c.serverErr))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("API server did not stop: %w", ctx.Err()))
		}
	}
	etcdStopped := true
	if c.etcd != nil {
		// An etcd stuck on damaged data never finishes Close: give up
		// after a while, so that the process can exit (and Ctrl-C works).
		done := make(chan struct{})
		go func() { c.etcd.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(etcdCloseTimeout):
			etcdStopped = false
			errs = append(errs, fmt.Errorf("etcd did not stop within %s; leaving it to the process's exit", etcdCloseTimeout))
		}
	}
	detachKlog(c.quiet)
	if etcdStopped {
		// etcd is closed: the dir may be opened again.
		c.unlock()
	}
	return errors.Join(errs...)
}

// WriteUserKubeconfigFor writes a kubeconfig for user with groups, like
// WriteUserKubeconfig, from the data dir of an embedded control plane that
// need not run in this process (`infraplane kubeconfig` while `up` runs):
// the client certificate is signed by the data dir's client CA, and the
// server URL is the one in the admin kubeconfig.
func WriteUserKubeconfigFor(dataDir, path, user string, groups []string) error {
	if user == "" {
		return errors.New("controlplane: user is required")
	}
	dir := filepath.Join(dataDir, "pki")
	ca, err := loadKeyPair(filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile))
	if err != nil {
		return fmt.Errorf("no control plane in %s (has infraplane up run there?): %w", dataDir, err)
	}
	clientCA, err := loadKeyPair(filepath.Join(dir, clientCACertFile), filepath.Join(dir, clientCAKeyFile))
	if err != nil {
		return err
	}
	admin, err := clientcmd.LoadFromFile(filepath.Join(dataDir, "kubeconfig"))
	if err != nil {
		return fmt.Errorf("reading the admin kubeconfig in %s: %w", dataDir, err)
	}
	cluster, ok := admin.Clusters[clusterName]
	if !ok {
		return fmt.Errorf("the admin kubeconfig in %s has no cluster %q", dataDir, clusterName)
	}
	kp, err := issue(clientTemplate(user, groups), clientCA, leafValidity)
	if err != nil {
		return err
	}
	c := &ControlPlane{url: cluster.Server, pki: &pki{dir: dir, ca: ca, clientCA: clientCA}}
	return c.writeKubeconfig(path, kp)
}

// failingChecks are the names of the checks a verbose /readyz reports as
// failed ("[-]poststarthook/rbac/bootstrap-roles failed: …"): the start-up
// debug log says what the API server is still waiting for.
func failingChecks(body []byte) []string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "[-]"); ok {
			name, _, _ = strings.Cut(name, " ")
			out = append(out, name)
		}
	}
	return out
}
