package controlplane

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startEtcd runs a single-member etcd with its data in dir, serving clients on
// a free loopback port over TLS, to callers with a client certificate from
// p's etcd CA only (the API server): any local account can reach a loopback
// port, and etcd holds every Secret. It returns once etcd accepts requests
// and the gRPC URL the API server uses. On failure a started etcd is still
// returned, for the caller's shutdown to close: that path marks the closing
// as expected, so it stays out of the error log.
// errEtcdNotReady: etcd started but never became ready — on a single
// member, that is data it cannot go on from (a write-ahead log cut short).
var errEtcdNotReady = errors.New("etcd did not become ready")

// etcdCloseTimeout bounds waiting for etcd to stop: an etcd stuck on
// damaged data never does, and the process must still exit.
const etcdCloseTimeout = 10 * time.Second

func startEtcd(ctx context.Context, dir string, p *pki, lg *zap.Logger, readyTimeout time.Duration) (*embed.Etcd, string, error) {
	var ports [2]int
	for i := range ports {
		port, err := FreePort()
		if err != nil {
			return nil, "", err
		}
		ports[i] = port
	}
	clientURL := url.URL{Scheme: "https", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))}
	// etcd's HTTP endpoints (/health, /metrics, /version) get a port of
	// their own: on a TLS port shared with HTTP, etcd serves gRPC through
	// Go's HTTP server, which is slower and lets large responses starve
	// watches (etcd-io/etcd#15402); alone on its port, gRPC is served
	// natively. Both ports take the same client certificates.
	httpURL := url.URL{Scheme: "https", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))}

	cfg := embed.NewConfig()
	cfg.Name = "infraplane"
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.ListenClientHttpUrls = []url.URL{httpURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ClientTLSInfo = transport.TLSInfo{
		CertFile:       p.path(etcdServerCertFile),
		KeyFile:        p.path(etcdServerKeyFile),
		TrustedCAFile:  p.path(etcdCACertFile),
		ClientCertAuth: true,
	}
	// A single member never talks to peers, so no peer listener is opened. The
	// advertised peer URL only feeds the member ID; keeping it constant keeps
	// the ID stable across restarts.
	cfg.ListenPeerUrls = nil
	cfg.AdvertisePeerUrls = []url.URL{{Scheme: "http", Host: "127.0.0.1:2380"}}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.EnableGRPCGateway = false // only the API server talks to etcd, via gRPC
	// etcd's 2 GiB default quota is within reach of 100,000 objects with
	// their recent history (the db file is ~8 KiB per Topic after its
	// create and status writes; docs/benchmarks.md, "Issue 17: memory per
	// object and the scale run"), and past it etcd turns read-only. 8 GiB
	// is the largest etcd recommends. The API server compacts history
	// every 5 minutes (its --etcd-compaction-interval default), so etcd's
	// own auto-compaction stays off.
	cfg.QuotaBackendBytes = 8 << 30
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("starting etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, clientURL.String(), nil
	case err := <-e.Err():
		return e, "", fmt.Errorf("etcd failed: %w", err)
	case <-time.After(readyTimeout):
		return e, "", fmt.Errorf("%w within %s", errEtcdNotReady, readyTimeout)
	case <-ctx.Done():
		return e, "", ctx.Err()
	}
}

// FreePort returns an unused loopback port. There is a short window in
// which another process could take it, so it is chosen below the kernel's
// range for ephemeral ports (32768 and up on Linux), which outgoing
// connections take theirs from: a port the kernel handed out and got back
// is the likeliest to be taken in that window (tests running in parallel
// saw "address already in use" so). Failing that, the kernel picks one.
func FreePort() (int, error) {
	for range 100 {
		port := 20000 + rand.IntN(12000)
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
