// Package gitops is the GitOps syncer: a GitSource names a directory of a
// git repository; the syncer fetches it (go-git), renders it (kustomize or
// plain YAML, keeping file and line of every object), checks it (kinds,
// namespaces, duplicates, references), dry-runs it, and only when all of
// that passes applies it with server-side apply (fluxcd/pkg/ssa), prunes
// what left git (behind a mass-deletion guard) and records the sync.
//
// A commit with one bad file applies nothing; the GitSource's Ready
// condition names the file, line and field.
package gitops
