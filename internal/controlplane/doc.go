// Package controlplane runs an embedded Kubernetes API server for infraplane:
// etcd (go.etcd.io/etcd/server/v3/embed), the upstream generic control plane
// (k8s.io/kubernetes/pkg/controlplane/apiserver/samples/generic/server: core
// API machinery, CRDs, admission webhooks and policies, RBAC, server-side
// apply, aggregation; no pods, nodes or services) and, in-process, the
// upstream garbage-collector and namespace controllers.
//
// Everything lives under Options.DataDir:
//
//	etcd/        etcd data
//	pki/         ca.{crt,key}          serving CA (clients trust it)
//	             apiserver.{crt,key}   serving certificate (127.0.0.1, ::1, localhost)
//	             client-ca.{crt,key}   client CA (the API server trusts it)
//	             admin.{crt,key}       CN=infraplane-admin, O=system:masters
//	             sa.key                service-account token signing key
//	             etcd-ca.{crt,key}     etcd's CA: etcd accepts client certificates from it only
//	             etcd-server.{crt,key} etcd's serving certificate (127.0.0.1)
//	             apiserver-etcd-client.{crt,key}     the API server's certificate for etcd
//	             webhook-client-ca.{crt,key}         signs only the next one
//	             apiserver-webhook-client.{crt,key}  presented by the API server to admission webhooks
//	             admission.yaml, webhook-client.kubeconfig  say so to the webhook plugins; rewritten on every start
//	kubeconfig   admin kubeconfig, rewritten on every start
//	lock         held (flock) while a control plane uses the dir
//
// The data dir is kept at mode 0700 (an existing one with looser modes is
// changed, with a warning) and keys are 0600. etcd listens on loopback over
// TLS (gRPC and HTTP on two ports) and accepts only the API server's client
// certificate. CAs and keys are
// created once and reused; leaf certificates are reissued when they near
// expiry. Anonymous requests are refused; authentication is by client
// certificate or service-account token, authorization by RBAC.
//
// Timing facts from upstream, useful when writing tests against it: the
// first create of a custom resource within 2s of its CRD becoming Established
// is held for 2s (an HA safeguard in apiextensions), and namespace deletion
// starts 5s after the delete (namespace controller grace period). Dependents
// are garbage-collected within ~0.1s of their owner's deletion, also for owner
// kinds installed after start (the GC re-reads discovery every 2s).
//
// Kubernetes and etcd log through the Logger given to Start: their messages
// arrive at debug level, real errors at error level, and errors during Stop
// at debug level. klog is process-global: it goes to the most recently
// started control plane that is still running.
package controlplane
