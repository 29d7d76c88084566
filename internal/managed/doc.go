// Package managed is the generic managed-resource reconciler.
//
// Every cloud kind (Topic, Subscription, …) is a Go type plus a small
// ExternalClient that can Observe, Create, Update and Delete one cloud
// resource and compute a field-level diff. Everything else lives here, once:
// finalizers, conditions and events, provider resolution, references and
// dependency waits, ownership and adoption, drift detection and repair,
// deletion policy, pause, requeue and backoff, metrics.
//
// One concern per file: reconciler.go is the loop, client.go the interface a
// kind implements, references.go the dependency waits, ownership.go the
// adoption rules, conditions.go the status vocabulary, errors.go how cloud
// errors are classified, metrics.go what is measured.
package managed
