package controlplane

import (
	"context"
	"fmt"
	"net"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"
	aggregatorapiserver "k8s.io/kube-aggregator/pkg/apiserver"
	generic "k8s.io/kubernetes/pkg/controlplane/apiserver/samples/generic/server"
	authzmodes "k8s.io/kubernetes/pkg/kubeapiserver/authorizer/modes"
)

// serviceAccountIssuer is the "iss" of service-account tokens; it is also the
// default API audience.
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// newAPIServer configures the upstream generic control plane (the sample
// server: Kubernetes API machinery without pods, nodes or services, plus CRDs
// and the aggregator) against our PKI and etcd. It mirrors the sample's
// NewCommand/Run, minus flags, signal handling and global logging setup,
// which belong to the product.
func newAPIServer(ctx context.Context, p *pki, ln net.Listener, etcdURL, admissionConfig string, hook WriteHook, uncached []string) (*aggregatorapiserver.APIAggregator, error) {
	o := generic.NewOptions()

	tcp := ln.Addr().(*net.TCPAddr)
	o.SecureServing.Listener = ln
	o.SecureServing.BindAddress = tcp.IP
	o.SecureServing.BindPort = tcp.Port
	o.SecureServing.ServerCert.CertDirectory = p.dir
	o.SecureServing.ServerCert.CertKey.CertFile = p.path(servingCertFile)
	o.SecureServing.ServerCert.CertKey.KeyFile = p.path(servingKeyFile)

	o.Etcd.StorageConfig.Transport.ServerList = []string{etcdURL}
	o.Etcd.StorageConfig.Transport.CertFile = p.path(etcdClientCertFile)
	o.Etcd.StorageConfig.Transport.KeyFile = p.path(etcdClientKeyFile)
	o.Etcd.StorageConfig.Transport.TrustedCAFile = p.path(etcdCACertFile)
	for _, r := range uncached {
		o.Etcd.WatchCacheSizes = append(o.Etcd.WatchCacheSizes, r+"#0")
	}

	// Admission webhooks are called with a client certificate, so a webhook
	// can tell the API server from anyone else who reaches its port.
	o.Admission.GenericAdmission.ConfigFile = admissionConfig

	// Authentication: client certificates from our client CA and
	// service-account tokens. Nobody gets in anonymously, not even to /healthz.
	o.Authentication.Anonymous.Allow = false
	o.Authentication.ClientCert.ClientCA = p.path(clientCACertFile)
	o.Authentication.ServiceAccounts.Issuers = []string{serviceAccountIssuer}
	o.Authentication.ServiceAccounts.KeyFiles = []string{p.path(saKeyFile)}
	o.ServiceAccountSigningKeyFile = p.path(saKeyFile)

	// RBAC only: there are no nodes, so the Node authorizer has nothing to do.
	o.Authorization.Modes = []string{authzmodes.ModeRBAC}

	// No pprof endpoints on a product API.
	o.Features.EnableProfiling = false

	completed, err := o.Complete(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("completing API server options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, fmt.Errorf("invalid API server options: %w", utilerrors.NewAggregate(errs))
	}
	config, err := generic.NewConfig(completed)
	if err != nil {
		return nil, fmt.Errorf("configuring API server: %w", err)
	}
	// The sample assumes three API servers and then delays every new CRD's
	// Established condition by 5s to avoid HA races. There is only one here.
	config.APIExtensions.ExtraConfig.MasterCount = 1
	if hook != nil {
		// Writes to our kinds, with the authenticated user, go to the hook
		// (the audit ledger's direct-edit records). The aggregator fronts
		// the chain, so its filters see every request; the others get it
		// too so no path is missed.
		backend := hookBackend{hook: hook, seen: &versions{}}
		for _, g := range []*genericapiserver.Config{&config.Aggregator.GenericConfig.Config, &config.APIExtensions.GenericConfig.Config, config.ControlPlane.Generic} {
			g.AuditBackend = backend
			g.AuditPolicyRuleEvaluator = writePolicy{}
		}
	}
	cc, err := config.Complete()
	if err != nil {
		return nil, err
	}
	s, err := generic.CreateServerChain(cc)
	if err != nil {
		return nil, fmt.Errorf("creating API server: %w", err)
	}
	return s, nil
}
