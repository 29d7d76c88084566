// Package breakglass lets an on-call engineer change GitOps-managed
// objects directly, for a limited time, with a recorded reason, and brings
// them back under git afterwards.
//
// The pieces, one concern per file:
//
//   - coverage.go: which objects a BreakGlass covers, and whether it is
//     active (expiry is computed from creation time, so it is exact even
//     before the controller has run or after a restart).
//   - webhook.go: the admission webhook. It stamps who opened, closed or
//     reverted a break-glass from the authenticated user, refuses bad
//     break-glasses (unknown targets, too long, overlapping), and denies
//     direct spec writes to GitOps-managed objects except by the opener of
//     an active break-glass covering them (or an admin group).
//   - controller.go: the BreakGlass controller: opens (ledger), expires on
//     time, closes, compares each target with git (divergence.go), holds
//     diverged targets, releases them when git catches up, reverts on
//     request.
//   - policy.go: the hooks the syncer (skip targets) and the managed
//     reconcilers (pause actuation, Diverged condition) call.
//   - webhookconfig.go: registering the webhook with the API server
//     (again when a Blueprint adds an API group).
//   - blueprints.go, divergence_children.go, policy_blueprints.go: a
//     break-glass on a Blueprint instance covers its children: they are
//     resolved as targets when it opens, guarded through their instance,
//     compared with the Blueprint's rendering at the end, and the
//     instance controller does not write them while shielded or held.
//   - othergitops.go: objects Flux or Argo CD apply. Flux's reconcile of a
//     target is switched off for the window; Argo CD and Flux HelmRelease
//     targets are refused.
package breakglass
