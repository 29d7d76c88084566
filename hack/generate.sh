#!/usr/bin/env bash
# Regenerates deepcopy functions, CRDs and the controller's RBAC from the
# code (types and // +kubebuilder:rbac markers next to the calls), and the
# Helm chart from the kustomize base, and Argo CD's health checks.
# CI runs this and fails when the committed files differ.
set -euo pipefail
cd "$(dirname "$0")/.."
go tool controller-gen object paths=./api/...
go tool controller-gen crd paths=./api/... output:crd:dir=config/crd/bases
{
  echo "# The CRDs, generated from api/ (hack/generate.sh writes this list)."
  echo "resources:"
  for f in config/crd/bases/*.yaml; do echo "- bases/${f##*/}"; done
} > config/crd/kustomization.yaml
go tool controller-gen rbac:roleName=infraplane-controller paths=./internal/... output:rbac:dir=config/rbac/controller
go run ./hack/helmchart
go run ./hack/argocdcm
